# PvrunLab: the Windows pieces pvrun's Windows steps use, emulated for lab guests that run real
# pwsh on Linux. Every function works on one JSON state file ($env:PVRUN_LAB_STATE), so a test
# can seed a guest (a static IP on an emulated NIC, Citrix tools, a scheduled shutdown) and read
# back what the playbook did. Only the commands and parameters pvrun's scripts use are emulated;
# anything else is an error, not a silent no-op.
#
# Native tools are emulated under their .exe names only (msiexec.exe, pnputil.exe, XenClean.exe,
# shutdown.exe): if this module were not loaded, `shutdown.exe` is "command not found" on Linux,
# whereas a plain `shutdown` would reach the controller's real /sbin/shutdown.

# no Set-StrictMode: state keys that a seed leaves out read as $null, like absent registry values

function script:Read-LabState {
  if (-not $env:PVRUN_LAB_STATE) { throw 'PvrunLab: PVRUN_LAB_STATE is not set' }
  Get-Content -LiteralPath $env:PVRUN_LAB_STATE -Raw | ConvertFrom-Json -AsHashtable
}

function script:Write-LabState($state) {
  $tmp = "$($env:PVRUN_LAB_STATE).tmp"
  ConvertTo-Json -InputObject $state -Depth 12 | Set-Content -LiteralPath $tmp -Encoding utf8NoBOM
  Move-Item -LiteralPath $tmp -Destination $env:PVRUN_LAB_STATE -Force
}

function script:Add-LabLog($state, [string]$entry) {
  if (-not $state.ContainsKey('log')) { $state.log = @() }
  $state.log = @($state.log) + $entry
}

function script:Get-LabDevice($state, [string]$id) { @($state.devices) | Where-Object { $_.instanceId -eq $id } | Select-Object -First 1 }

# adapters whose device is present (Windows does not list the others in Get-NetAdapter)
function script:Get-PresentAdapter($state) {
  @($state.adapters) | Where-Object { $d = Get-LabDevice $state $_.pnpDeviceId; $d -and $d.present }
}

function script:Find-Adapter($state, $ifIndex) {
  $a = Get-PresentAdapter $state | Where-Object { $_.ifIndex -eq [int]$ifIndex } | Select-Object -First 1
  if (-not $a) { throw "No MSFT_NetAdapter objects found with property 'InterfaceIndex' equal to '$ifIndex'." }
  $a
}

# ---- OS, devices, services, registry --------------------------------------------------------

function Get-CimInstance {
  param([Parameter(Position = 0)][Alias('Class')][string]$ClassName, [string]$Filter)
  $s = Read-LabState
  if ($ClassName -eq 'Win32_LogicalDisk') {
    # C: (fixed, 3) and, with an ISO inserted, the CD drive D: (5)
    [pscustomobject]@{ DeviceID = 'C:'; DriveType = 3; VolumeName = '' }
    if ($s.cdrom) { Sync-LabCdDrive $s; [pscustomobject]@{ DeviceID = 'D:'; DriveType = 5; VolumeName = (Split-Path -Leaf $s.cdrom) } }
    return
  }
  if ($ClassName -ne 'Win32_OperatingSystem') { throw "PvrunLab: Get-CimInstance $ClassName is not emulated" }
  [pscustomobject]@{ Caption = $s.os.caption; Version = $s.os.version; BuildNumber = $s.os.build
                     LastBootUpTime = [datetime]::Parse($s.bootTime, $null, 'RoundtripKind') }
}

function Get-PnpDevice {
  param([string]$Class, [switch]$PresentOnly, [string]$InstanceId)
  $s = Read-LabState
  foreach ($d in @($s.devices)) {
    if ($Class -and $d.class -ne $Class) { continue }
    if ($PresentOnly -and -not $d.present) { continue }
    if ($InstanceId -and $d.instanceId -ne $InstanceId) { continue }
    $status = if ($d.present) { 'OK' } else { 'Unknown' }
    [pscustomobject]@{ InstanceId = $d.instanceId; FriendlyName = $d.friendlyName; Class = $d.class; Present = [bool]$d.present; Status = $status }
  }
}

function Get-Service {
  param([Parameter(Position = 0)][string[]]$Name)
  $s = Read-LabState
  foreach ($x in @($s.services)) {
    if ($Name -and $Name -notcontains $x.name) { continue }
    [pscustomobject]@{ Name = $x.name; DisplayName = $x.displayName; Status = $x.status; StartType = $x.startType }
  }
}

$script:Uninstall = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall'
$script:Pending = @{
  'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending' = 'component-based-servicing'
  'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired' = 'windows-update'
}

function Get-ItemProperty {
  param([Parameter(Position = 0)][string]$Path, [string]$LiteralPath, [Parameter(ValueFromRemainingArguments)]$Rest)
  $p = if ($LiteralPath) { $LiteralPath } else { $Path }
  if ($p -notlike 'HKLM:*') { return Microsoft.PowerShell.Management\Get-ItemProperty -LiteralPath $p }
  $s = Read-LabState
  if ($p -like "$script:Uninstall\*" -or $p -like 'HKLM:\SOFTWARE\WOW6432Node\*') {
    if ($p -like 'HKLM:\SOFTWARE\WOW6432Node\*') { return }
    foreach ($x in @($s.products)) {
      [pscustomobject]@{ DisplayName = $x.name; DisplayVersion = $x.version; Publisher = $x.publisher; PSChildName = $x.productCode }
    }
    return
  }
  if ($p -eq 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion') { return [pscustomobject]@{ EditionID = $s.os.edition } }
  if ($p -eq 'HKLM:\SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full') {
    if (-not $s.dotnetRelease) { Write-Error "Cannot find path '$p' because it does not exist."; return }
    return [pscustomobject]@{ Release = [int]$s.dotnetRelease }
  }
  $vals = Get-LabRegistryValues $s $p
  if ($vals) { return [pscustomobject]$vals }
  if ($p -eq 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager') {
    $v = if (@($s.pendingReboot) -contains 'pending-file-rename') { @('\??\C:\Windows\x.sys') } else { $null }
    return [pscustomobject]@{ PendingFileRenameOperations = $v }
  }
  # as the real cmdlet: a non-terminating error (-ErrorAction SilentlyContinue hides it)
  Write-Error "Cannot find path '$p' because it does not exist."
}

# values written under a registry key (Set-ItemProperty below), as name -> value
function script:Get-LabRegistryValues($s, [string]$key) {
  $out = [ordered]@{}
  if (-not $s.registry) { return $null }
  foreach ($k in $s.registry.Keys) {
    $i = $k.LastIndexOf('\')
    if ($k.Substring(0, $i) -eq $key) { $out[$k.Substring($i + 1)] = $s.registry[$k] }
  }
  if ($out.Count -eq 0) { return $null }
  $out
}

# New-Item / Set-ItemProperty on HKLM: keys (what the onboarding's Windows Update policies need);
# other paths go to the real cmdlets
function New-Item {
  param([Parameter(Position = 0)][string]$Path, [switch]$Force, [Parameter(ValueFromRemainingArguments)]$Rest)
  if ($Path -notlike 'HKLM:*') { return Microsoft.PowerShell.Management\New-Item -Path $Path -Force:$Force @Rest }
  [pscustomobject]@{ Name = $Path }
}

function Set-ItemProperty {
  param([Parameter(Position = 0)][string]$Path, [string]$Name, $Value, [string]$Type, [switch]$Force, [Parameter(ValueFromRemainingArguments)]$Rest)
  if ($Path -notlike 'HKLM:*') { return Microsoft.PowerShell.Management\Set-ItemProperty -Path $Path -Name $Name -Value $Value @Rest }
  $s = Read-LabState
  if (-not $s.registry) { $s.registry = @{} }
  $s.registry["$Path\$Name"] = $Value
  Add-LabLog $s "Set-ItemProperty $Path $Name=$Value"
  Write-LabState $s
}

function Test-Path {
  param([Parameter(Position = 0)][string]$Path, [string]$LiteralPath, [Parameter(ValueFromRemainingArguments)]$Rest)
  $p = if ($LiteralPath) { $LiteralPath } else { $Path }
  if ($p -notlike 'HKLM:*') {
    if ($LiteralPath) { return Microsoft.PowerShell.Management\Test-Path -LiteralPath $p }
    return Microsoft.PowerShell.Management\Test-Path -Path $p
  }
  $reason = $script:Pending[$p]
  if ($reason) { return @((Read-LabState).pendingReboot) -contains $reason }
  return $false
}

# ---- network ----------------------------------------------------------------------------------

function Get-NetAdapter {
  param([Parameter(Position = 0)][string]$Name, [int]$InterfaceIndex, [switch]$IncludeHidden, [switch]$Physical)
  $s = Read-LabState
  foreach ($a in @(Get-PresentAdapter $s)) {
    if ($Name -and $a.name -ne $Name) { continue }
    if ($InterfaceIndex -and $a.ifIndex -ne $InterfaceIndex) { continue }
    [pscustomobject]@{ Name = $a.name; InterfaceDescription = $a.description; MacAddress = $a.mac; ifIndex = [int]$a.ifIndex
                       InterfaceIndex = [int]$a.ifIndex; Status = 'Up'; PnPDeviceID = $a.pnpDeviceId }
  }
}

function Get-NetIPInterface {
  param([int]$InterfaceIndex, [string]$AddressFamily)
  $a = Find-Adapter (Read-LabState) $InterfaceIndex
  [pscustomobject]@{ InterfaceIndex = [int]$a.ifIndex; Dhcp = $a.dhcp; AddressFamily = 'IPv4' }
}

function Set-NetIPInterface {
  param([int]$InterfaceIndex, [string]$AddressFamily, [string]$Dhcp)
  $s = Read-LabState
  $a = Find-Adapter $s $InterfaceIndex
  $a.dhcp = $Dhcp
  Add-LabLog $s "Set-NetIPInterface $InterfaceIndex Dhcp=$Dhcp"
  Write-LabState $s
}

function Get-NetIPAddress {
  param([int]$InterfaceIndex, [string]$AddressFamily, [string]$IPAddress)
  $s = Read-LabState
  $list = if ($InterfaceIndex) { @(Find-Adapter $s $InterfaceIndex) } else { @(Get-PresentAdapter $s) }
  foreach ($a in $list) {
    foreach ($x in @($a.addresses)) {
      if ($IPAddress -and $x.ip -ne $IPAddress) { continue }
      [pscustomobject]@{ InterfaceIndex = [int]$a.ifIndex; IPAddress = $x.ip; PrefixLength = [int]$x.prefix; PrefixOrigin = $x.origin; AddressFamily = 'IPv4' }
    }
  }
}

function New-NetIPAddress {
  param([int]$InterfaceIndex, [string]$IPAddress, [int]$PrefixLength, [string]$DefaultGateway, [string]$AddressFamily)
  $s = Read-LabState
  $a = Find-Adapter $s $InterfaceIndex
  if (@($a.addresses) | Where-Object { $_.ip -eq $IPAddress }) { throw "Instance $IPAddress already exists" }
  # the address leaves the DHCP lease behind, as on Windows
  $a.addresses = @(@($a.addresses) | Where-Object { $_.origin -ne 'Dhcp' -and $_.origin -ne 'WellKnown' }) + @{ ip = $IPAddress; prefix = $PrefixLength; origin = 'Manual' }
  $a.dhcp = 'Disabled'
  if ($DefaultGateway) { $a.gateways = @(@($a.gateways) | Where-Object { $_ -ne $DefaultGateway }) + $DefaultGateway }
  Add-LabLog $s "New-NetIPAddress $InterfaceIndex $IPAddress/$PrefixLength gw=$DefaultGateway"
  Write-LabState $s
  [pscustomobject]@{ InterfaceIndex = $InterfaceIndex; IPAddress = $IPAddress; PrefixLength = $PrefixLength }
}

function Remove-NetIPAddress {
  param([int]$InterfaceIndex, [string]$IPAddress, [string]$AddressFamily, [switch]$Confirm)
  $s = Read-LabState
  $a = Find-Adapter $s $InterfaceIndex
  $a.addresses = @(@($a.addresses) | Where-Object { $IPAddress -and $_.ip -ne $IPAddress })
  Add-LabLog $s "Remove-NetIPAddress $InterfaceIndex $IPAddress"
  Write-LabState $s
}

function Get-NetRoute {
  param([int]$InterfaceIndex, [string]$DestinationPrefix, [string]$AddressFamily)
  $a = Find-Adapter (Read-LabState) $InterfaceIndex
  if ($DestinationPrefix -and $DestinationPrefix -ne '0.0.0.0/0') { return }
  foreach ($g in @($a.gateways)) { [pscustomobject]@{ InterfaceIndex = [int]$a.ifIndex; DestinationPrefix = '0.0.0.0/0'; NextHop = $g } }
}

function New-NetRoute {
  param([int]$InterfaceIndex, [string]$DestinationPrefix, [string]$NextHop, [string]$AddressFamily)
  $s = Read-LabState
  $a = Find-Adapter $s $InterfaceIndex
  if (@($a.gateways) -contains $NextHop) { throw "Instance $DestinationPrefix via $NextHop already exists" }
  $a.gateways = @($a.gateways) + $NextHop
  Add-LabLog $s "New-NetRoute $InterfaceIndex $NextHop"
  Write-LabState $s
}

function Remove-NetRoute {
  param([int]$InterfaceIndex, [string]$DestinationPrefix, [string]$NextHop, [switch]$Confirm)
  $s = Read-LabState
  $a = Find-Adapter $s $InterfaceIndex
  $a.gateways = @(@($a.gateways) | Where-Object { $NextHop -and $_ -ne $NextHop })
  Add-LabLog $s "Remove-NetRoute $InterfaceIndex $NextHop"
  Write-LabState $s
}

function Get-DnsClientServerAddress {
  param([int]$InterfaceIndex, [string]$AddressFamily)
  $a = Find-Adapter (Read-LabState) $InterfaceIndex
  [pscustomobject]@{ InterfaceIndex = [int]$a.ifIndex; ServerAddresses = @($a.dns) }
}

function Set-DnsClientServerAddress {
  param([int]$InterfaceIndex, [string[]]$ServerAddresses, [switch]$ResetServerAddresses)
  $s = Read-LabState
  $a = Find-Adapter $s $InterfaceIndex
  $a.dns = if ($ResetServerAddresses) { @() } else { @($ServerAddresses) }
  Add-LabLog $s "Set-DnsClientServerAddress $InterfaceIndex $($a.dns -join ',')"
  Write-LabState $s
}

# ---- native tools -----------------------------------------------------------------------------

function script:Set-Exit([int]$code) { $global:LASTEXITCODE = $code }

# a Windows log path (C:\...) has no meaning on the lab's Linux: such logs are skipped
function script:Write-MsiLog($path, [string]$text) {
  if (-not $path) { return }
  try { $text | Microsoft.PowerShell.Management\Set-Content -LiteralPath $path -ErrorAction Stop } catch { }
}

# The inserted ISO as drive D: (what Windows shows), on the directory holding its content.
function script:Sync-LabCdDrive($s) {
  $d = Microsoft.PowerShell.Management\Get-PSDrive -Name D -ErrorAction SilentlyContinue
  if ($s.cdrom) {
    if ($d -and $d.Root.TrimEnd('/') -eq ([string]$s.cdrom).TrimEnd('/')) { return }
    if ($d) { Microsoft.PowerShell.Management\Remove-PSDrive -Name D -Force -Scope Global -ErrorAction SilentlyContinue }
    $null = Microsoft.PowerShell.Management\New-PSDrive -Name D -PSProvider FileSystem -Root $s.cdrom -Scope Global
  } elseif ($d) {
    Microsoft.PowerShell.Management\Remove-PSDrive -Name D -Force -Scope Global -ErrorAction SilentlyContinue
  }
}

# a guest path as a path on the lab host (D:\ is the inserted ISO's content)
function script:Resolve-LabPath([string]$p, $s) {
  if ($p -match '^[Dd]:[\\/](.*)$') {
    if (-not $s.cdrom) { return $null }
    return Join-Path $s.cdrom ($Matches[1] -replace '\\', '/')
  }
  $p
}

# Why the XCP-ng tools MSI refuses to install (its launch conditions and custom actions end the
# install with 1603): Windows older than 10.0.14393 (Package.wxs XenMinSupportedVersion,
# XenCheckWindowsVersion), .NET below 4.6.2 (WIX_IS_NETFRAMEWORK_462_OR_LATER_INSTALLED), Citrix
# drivers installed (CITRIX_DRIVERS_X64_DETECTED), the vendor device PCI\VEN_5853&DEV_C000
# present (XenCheckIncompatibleDevices, InstCA.wxs / XenDeviceInfo.cs) — win-pv-drivers
# installer/Package.wxs, installer/InstCA.wxs.
function script:Get-LabMsiRefusal($s) {
  if ([version]$s.os.version -lt [version]'10.0.14393') { return "XenCheckWindowsVersion: Windows $($s.os.version) is older than the minimum supported 10.0.14393" }
  if ([int]$s.dotnetRelease -lt 394802) { return 'NetFx462RequiredError: this package requires .NET Framework 4.6.2 or later' }
  $citrix = @(@($s.products) | Where-Object { $_.publisher -match 'Citrix|XenServer' -or $_.name -match 'Citrix' })
  if ($citrix.Count -gt 0) { return "CitrixDriversDetectedError: Citrix drivers are installed ($($citrix[0].name)); remove them with XenClean first" }
  $vd = @(@($s.devices) | Where-Object { $_.present -and $_.instanceId -like 'PCI\VEN_5853&DEV_C000*' })
  if ($vd.Count -gt 0) { return 'XenCheckIncompatibleDevices: the Xen vendor device PCI\VEN_5853&DEV_C000 is present (Windows Update driver delivery is on): turn it off first' }
  $null
}

# msiexec.exe /i <msi> /qn /norestart /log <file> [PROP=VALUE...]
# A lab release MSI (a JSON file, src/lab/windows/releases.ts) is read from its path; other names
# come from state.packages (test doubles such as broken.msi).
function msiexec.exe {
  $s = Read-LabState
  $i = [array]::IndexOf($args, '/i')
  if ($i -lt 0 -or $i + 1 -ge $args.Count) { Set-Exit 1639; return }
  $msi = [string]$args[$i + 1]
  $log = $null
  $l = [array]::IndexOf($args, '/log')
  if ($l -ge 0) { $log = [string]$args[$l + 1] }
  $name = Split-Path -Leaf ($msi -replace '\\', '/')
  Add-LabLog $s "msiexec /i $name $((@($args) | Where-Object { $_ -match '=' }) -join ' ')"
  $lab = $null
  $hostPath = Resolve-LabPath $msi $s
  if ($hostPath -and (Microsoft.PowerShell.Management\Test-Path -LiteralPath $hostPath -PathType Leaf)) {
    try { $lab = Get-Content -Raw -LiteralPath $hostPath | ConvertFrom-Json -AsHashtable } catch { $lab = $null }
    if ($lab -and -not $lab.pvrunLabMsi) { $lab = $null }
  }
  if (-not $lab) { Invoke-LabPackage $s $name $msi $log; return }
  # another installation holds the Windows Installer mutex (e.g. Windows Update): 1618
  if ($s.msiBusy) { Write-MsiLog $log 'MSI (s): Another installation is already in progress.'; Write-LabState $s; Set-Exit 1618; return }

  $why = Get-LabMsiRefusal $s
  if ($why) { Write-MsiLog $log "MSI (s): $why`r`nMSI (s): Product: $($lab.product.name) -- Installation failed."; Write-LabState $s; Set-Exit 1603; return }
  $same = @(@($s.products) | Where-Object { $_.upgradeCode -eq $lab.upgradeCode })
  foreach ($p in $same) {
    if ($p.productCode -eq $lab.product.productCode) {
      # the same product again: nothing to do (maintenance mode without REINSTALL)
      Write-MsiLog $log "MSI (s): Product: $($p.name) $($p.version) is already installed."; Write-LabState $s; Set-Exit 0; return
    }
    if ([version]$p.version -gt [version]$lab.product.version) {
      # Package.wxs: <Launch Condition="NOT DOWNGRADE_DETECTED" Message="!(loc.DowngradeError)" />
      Write-MsiLog $log "MSI (s): DowngradeError: a newer version ($($p.name) $($p.version)) is already installed."; Write-LabState $s; Set-Exit 1603; return
    }
  }
  # RemoveExistingProducts: an older release (PV Drivers 9.0 under the same UpgradeCode) goes
  $product = $lab.product.Clone(); $product.upgradeCode = $lab.upgradeCode
  $s.products = @(@($s.products) | Where-Object { $_.upgradeCode -ne $lab.upgradeCode }) + $product
  foreach ($svc in @($lab.services)) { if ($svc) { $s.services = @(@($s.services) | Where-Object { $_.name -ne $svc.name }) + $svc } }
  $s.pendingDriverSwap = $true
  # ScheduleReboot After="InstallFinalize" Condition="XenNeedsReboot": 3010
  $s.pendingReboot = @(@($s.pendingReboot) | Where-Object { $_ -ne 'component-based-servicing' }) + 'component-based-servicing'
  Write-MsiLog $log "MSI (s): Product: $($lab.product.name) $($lab.product.version) -- Installation completed successfully. A restart is required."
  Write-LabState $s
  Set-Exit 3010
}

function script:Invoke-LabPackage($s, $name, $msi, $log) {
  $pkg = $s.packages[$name]
  if (-not $pkg) { Write-MsiLog $log "MSI (s): cannot open $msi"; Write-LabState $s; Set-Exit 1619; return }
  $code = [int]$pkg.exitCode
  if ($code -eq 0 -or $code -eq 3010 -or $code -eq 1641) {
    if ($pkg.product) { $s.products = @(@($s.products) | Where-Object { $_.productCode -ne $pkg.product.productCode }) + $pkg.product }
    foreach ($svc in @($pkg.services)) { if ($svc) { $s.services = @(@($s.services) | Where-Object { $_.name -ne $svc.name }) + $svc } }
    if ($pkg.pvDrivers) { $s.pendingDriverSwap = $true }
    if ($code -ne 0) { $s.pendingReboot = @(@($s.pendingReboot) | Where-Object { $_ -ne 'component-based-servicing' }) + 'component-based-servicing' }
  }
  Write-MsiLog $log "MSI (s): Product: $name -- Installation completed with exit code $code."
  Write-LabState $s
  Set-Exit $code
}

# pnputil.exe /remove-device <instance id>
function pnputil.exe {
  $s = Read-LabState
  if ($args.Count -lt 2 -or $args[0] -ne '/remove-device') { 'PvrunLab: only /remove-device is emulated'; Set-Exit 87; return }
  $id = [string]$args[1]
  $d = Get-LabDevice $s $id
  if (-not $d) { "Failed to remove device: $id"; 'The system cannot find the file specified.'; Set-Exit 2; return }
  $s.devices = @(@($s.devices) | Where-Object { $_.instanceId -ne $id })
  $s.adapters = @(@($s.adapters) | Where-Object { $_.pnpDeviceId -ne $id })
  Add-LabLog $s "pnputil /remove-device $id"
  Write-LabState $s
  "Removing device: $id"
  'Device removed successfully.'
  Set-Exit 0
}

# XenClean of a release, run by the lab package's package\XenClean\XenClean.exe (releases.ts).
# v9.1+ (win-pv-drivers XenClean/Program.cs:62-85,107,162, ExitCode.cs): flags -dryRun -noReboot
# -noConfirm -onboard <family>, anything else prints the usage and ends 1; without -onboard it
# removes every Xen/Citrix/XCP-ng PV product (XCP-ng's own too) and ends 0 (reboot to finish;
# without -noReboot it schedules one); 3: the clean-up did not run yet: reboot, then run it again;
# 64 ready / 65 already onboarded / 66 denied only with -onboard. v9.0's XenClean has no flags
# and no exit-code contract: here it removes the Citrix products and always ends 0.
# state.xenclean.exitCode forces a v9.1+ outcome (1 error, 2 cancelled); notRunUntilReboot: its
# first run answers 3, and it runs after the next boot.
function Invoke-LabXenClean {
  param([string]$Release, [object[]]$Arguments)
  $s = Read-LabState
  Add-LabLog $s "XenClean $Release $(@($Arguments) -join ' ')"
  $pv = 'XCP-ng|Citrix|XenServer|Xen '
  if ([version]$Release -lt [version]'9.1') {
    if ($s.xenclean -and $s.xenclean.exitCode) { 'XenClean: done.'; Write-LabState $s; Set-Exit 0; return }
    Remove-LabPvProducts $s 'Citrix|XenServer'
    'XenClean: done.'
    Write-LabState $s
    Set-Exit 0
    return
  }
  $noReboot = $false; $dryRun = $false; $onboard = $null
  $a = @($Arguments)
  for ($i = 0; $i -lt $a.Count; $i++) {
    switch -regex ([string]$a[$i]) {
      '^-noReboot$' { $noReboot = $true }
      '^-noConfirm$' { }
      '^-dryRun$' { $dryRun = $true }
      '^-onboard$' { $i++; $onboard = [string]$a[$i] }
      default { 'Usage: XenClean [-dryRun] [-noReboot] [-noConfirm]'; Write-LabState $s; Set-Exit 1; return }
    }
  }
  if ($s.xenclean -and $s.xenclean.exitCode) { "Cleanup FAILED"; Write-LabState $s; Set-Exit ([int]$s.xenclean.exitCode); return }
  if ($s.xenclean -and $s.xenclean.notRunUntilReboot) {
    # answered 3 once: the next boot lets it run
    $s.xenclean.answered3 = $true
    'A restart is pending: restart the machine, then run XenClean again.'
    Write-LabState $s; Set-Exit 3; return
  }
  $found = @(@($s.products) | Where-Object { $_.publisher -match $pv -or $_.name -match $pv })
  if ($onboard) {
    $foreign = @($found | Where-Object { $_.publisher -notmatch [regex]::Escape($onboard) -and $_.name -notmatch [regex]::Escape($onboard) })
    if ($found.Count -gt 0 -and $foreign.Count -eq 0) { 'Onboarding already completed'; Write-LabState $s; Set-Exit 65; return }
    if ($found.Count -eq 0) { 'No drivers present, ready for onboard'; Write-LabState $s; Set-Exit 64; return }
  }
  if (-not $dryRun) {
    Remove-LabPvProducts $s $pv
    if (-not $noReboot) { $s.shutdownScheduled = $true }
  }
  "Cleanup task status is CleaningSucceeded ($($found.Count) product(s))"
  Write-LabState $s
  Set-Exit 0
}

# the products and services go now; their PV devices at the next boot (the emulated NIC comes back)
function script:Remove-LabPvProducts($s, [string]$pattern) {
  $s.products = @(@($s.products) | Where-Object { $_.publisher -notmatch $pattern -and $_.name -notmatch $pattern })
  $s.services = @(@($s.services) | Where-Object { $_.displayName -notmatch 'Citrix|XenServer|XCP-ng|^Xen' -and $_.name -notmatch '^xen' })
  $s.pendingDriverRemoval = $true
  $s.pendingReboot = @(@($s.pendingReboot) | Where-Object { $_ -ne 'component-based-servicing' }) + 'component-based-servicing'
}

# shutdown.exe /r /t N | /a. A reboot happens at once: new boot time, pending driver changes
# applied (a PV NIC replaces the emulated one with the same MAC; the old one stays as a ghost).
function shutdown.exe {
  $s = Read-LabState
  Add-LabLog $s "shutdown $($args -join ' ')"
  if ($args -contains '/a') {
    if (-not $s.shutdownScheduled) { Write-LabState $s; 'Unable to abort the system shutdown because no shutdown was in progress.(1116)'; Set-Exit 1116; return }
    $s.shutdownScheduled = $false; Write-LabState $s; Set-Exit 0; return
  }
  if ($args -notcontains '/r') { Write-LabState $s; Set-Exit 87; return }
  if ($s.shutdownScheduled) { Write-LabState $s; 'A system shutdown has already been scheduled.(1190)'; Set-Exit 1190; return }
  Invoke-LabBoot $s
  Write-LabState $s
  Set-Exit 0
  if ($s.dropConnectionOnReboot) { Stop-LabSshSession }
}

# A real reboot cuts the connection the command came in on. When the state asks for it, end the
# per-connection sshd process above us (never the listener: its parent is not an sshd).
function script:Stop-LabSshSession {
  $ppidOf = { param($p) try { [int]((Get-Content -LiteralPath "/proc/$p/stat" -Raw) -replace '^.*\) \S+ (\d+).*$', '$1') } catch { 0 } }
  $commOf = { param($p) try { (Get-Content -LiteralPath "/proc/$p/comm" -Raw).Trim() } catch { '' } }
  $p = $PID
  while ($p -gt 1) {
    $p = & $ppidOf $p
    if ((& $commOf $p) -eq 'sshd') {
      $parent = & $ppidOf $p
      if ((& $commOf $parent) -eq 'sshd') { [System.Diagnostics.Process]::GetProcessById($p).Kill() }
      return
    }
  }
}

function script:Invoke-LabBoot($s) {
  $s.bootTime = [datetime]::UtcNow.ToString('o')
  $s.bootCount = [int]$s.bootCount + 1
  $s.pendingReboot = @()
  $s.shutdownScheduled = $false
  if ($s.xenclean -and $s.xenclean.answered3) { $s.xenclean.notRunUntilReboot = $false; $s.xenclean.answered3 = $false }
  # the vendor device is there exactly when the VM's has_vendor_device was on at this boot
  $s.devices = @(@($s.devices) | Where-Object { $_.instanceId -notlike 'PCI\VEN_5853&DEV_C000*' })
  if ($s.vendorDevice) { $s.devices = @($s.devices) + @{ instanceId = 'PCI\VEN_5853&DEV_C000&SUBSYS_C0005853&REV_01\3&267A616A&0&20'; friendlyName = 'PCI Device'; class = 'System'; present = $true } }
  # drivers that ask for one more reboot right after this one
  if ([int]$s.followupReboots -gt 0) {
    $s.followupReboots = [int]$s.followupReboots - 1
    $s.pendingReboot = @('component-based-servicing')
  }
  if ($s.ContainsKey('pendingDriverSwap') -and $s.pendingDriverSwap) {
    $s.pendingDriverSwap = $false
    foreach ($id in @('XENBUS\VEN_XSC000&DEV_VIF&REV_09000000\0', 'XENBUS\VEN_XSC000&DEV_VBD&REV_09000000\0', 'XENVBD\VEN_XSC000&DEV_DISK\0')) {
      if (-not (Get-LabDevice $s $id)) { $s.devices = @($s.devices) + @{ instanceId = $id; friendlyName = 'XenServer PV ' + ($id -split '\\')[0]; class = 'System'; present = $true } }
    }
    $n = 0
    foreach ($a in @($s.adapters)) {
      $d = Get-LabDevice $s $a.pnpDeviceId
      if (-not $d -or -not $d.present -or $a.pnpDeviceId -like 'XENVIF\*') { continue }
      # the emulated NIC's device disappears (ghost) with its IP settings; a PV NIC with the same
      # MAC appears, on DHCP, under a new name and interface index
      $d.present = $false
      $id = "XENVIF\VEN_XSC000&DEV_NET&REV_09000000\$n"
      $s.devices = @($s.devices) + @{ instanceId = $id; friendlyName = "XenServer PV Network Device #$n"; class = 'Net'; present = $true }
      $idx = 1 + (@($s.adapters) | ForEach-Object { [int]$_.ifIndex } | Measure-Object -Maximum).Maximum
      $s.adapters = @($s.adapters) + @{ name = "Ethernet $($idx)"; description = "XenServer PV Network Device #$n"; mac = $a.mac; ifIndex = $idx
                                      pnpDeviceId = $id; dhcp = 'Enabled'; addresses = @(@{ ip = "169.254.$n.$idx"; prefix = 16; origin = 'WellKnown' }); gateways = @(); dns = @() }
      $n++
    }
  }
  if ($s.ContainsKey('pendingDriverRemoval') -and $s.pendingDriverRemoval) {
    $s.pendingDriverRemoval = $false
    $s.devices = @(@($s.devices) | Where-Object { $_.instanceId -notlike 'XENBUS\*' -and $_.instanceId -notlike 'XENVBD\*' -and $_.instanceId -notlike 'XENVIF\*' })
  }
}

Export-ModuleMember -Function Get-CimInstance, Get-PnpDevice, Get-Service, Get-ItemProperty, Test-Path, Get-NetAdapter,
  Get-NetIPInterface, Set-NetIPInterface, Get-NetIPAddress, New-NetIPAddress, Remove-NetIPAddress, Get-NetRoute, New-NetRoute, Remove-NetRoute,
  Get-DnsClientServerAddress, Set-DnsClientServerAddress, New-Item, Set-ItemProperty, msiexec.exe, pnputil.exe, shutdown.exe,
  Invoke-LabXenClean

# the inserted ISO is drive D: from the start of every session
if ($env:PVRUN_LAB_STATE -and (Microsoft.PowerShell.Management\Test-Path -LiteralPath $env:PVRUN_LAB_STATE)) { Sync-LabCdDrive (Read-LabState) }
