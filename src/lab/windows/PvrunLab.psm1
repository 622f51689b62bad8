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
  param([Parameter(Position = 0)][Alias('Class')][string]$ClassName)
  if ($ClassName -ne 'Win32_OperatingSystem') { throw "PvrunLab: Get-CimInstance $ClassName is not emulated" }
  $s = Read-LabState
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
  if ($p -eq 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager') {
    $v = if (@($s.pendingReboot) -contains 'pending-file-rename') { @('\??\C:\Windows\x.sys') } else { $null }
    return [pscustomobject]@{ PendingFileRenameOperations = $v }
  }
  throw "PvrunLab: registry path $p is not emulated"
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

# msiexec.exe /i <msi> /qn /norestart /log <file> [PROP=VALUE...]
# What a package does comes from state.packages[<file name>]: exitCode, product, services,
# pvDrivers (the NIC and storage drivers change at the next boot).
function msiexec.exe {
  $s = Read-LabState
  $i = [array]::IndexOf($args, '/i')
  if ($i -lt 0 -or $i + 1 -ge $args.Count) { Set-Exit 1639; return }
  $msi = [string]$args[$i + 1]
  $log = $null
  $l = [array]::IndexOf($args, '/log')
  if ($l -ge 0) { $log = [string]$args[$l + 1] }
  $name = Split-Path -Leaf $msi
  $pkg = $s.packages[$name]
  Add-LabLog $s "msiexec /i $name $((@($args) | Where-Object { $_ -match '=' }) -join ' ')"
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

# XenClean.exe -noConfirm -noReboot: removes Citrix/XenServer tools. state.xenclean.exitCode forces
# an outcome (1 error, 2 cancelled, 3 reboot pending, 64 ready, 66 refused).
function XenClean.exe {
  $s = Read-LabState
  Add-LabLog $s "XenClean $($args -join ' ')"
  $forced = if ($s.ContainsKey('xenclean') -and $s.xenclean -and $s.xenclean.ContainsKey('exitCode')) { [int]$s.xenclean.exitCode } else { -1 }
  if ($forced -ge 0) { Write-LabState $s; Set-Exit $forced; return }
  $citrix = @(@($s.products) | Where-Object { $_.publisher -match 'Citrix|XenServer' })
  if ($citrix.Count -eq 0) { 'Nothing to clean.'; Write-LabState $s; Set-Exit 65; return }
  $s.products = @(@($s.products) | Where-Object { $_.publisher -notmatch 'Citrix|XenServer' })
  $s.services = @(@($s.services) | Where-Object { $_.displayName -notmatch 'Citrix|XenServer' })
  # the PV devices go with the drivers at the next boot; the emulated NIC comes back
  $s.pendingDriverRemoval = $true
  $s.pendingReboot = @(@($s.pendingReboot) | Where-Object { $_ -ne 'component-based-servicing' }) + 'component-based-servicing'
  "Removed $($citrix.Count) product(s)."
  Write-LabState $s
  Set-Exit 0
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
  Get-DnsClientServerAddress, Set-DnsClientServerAddress, msiexec.exe, pnputil.exe, XenClean.exe, shutdown.exe
