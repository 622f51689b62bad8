/**
 * The PowerShell side of a pool worker: functions dot-sourced once into each local pwsh. The
 * worker holds one PSSession per target and runs every remote command as a job
 * (`Invoke-Command -AsJob`), so one local pwsh serves many hosts at the same time even though
 * node-powershell sends it one command line at a time: a call only *starts* a command
 * (PvrunSubmit) or *collects* finished ones (PvrunPoll); nothing waits for a remote command
 * while holding the worker. Every function prints exactly one JSON document.
 */
import { quotePs } from '../../util/ps-quote.js';
import { REMOTE_WRAPPER } from './wrap.js';

export const WORKER_SCRIPT = `
$ProgressPreference = 'SilentlyContinue'
try { if ($PSStyle) { $PSStyle.OutputRendering = 'PlainText' } } catch { }
$global:PvrunSessions = @{}
$global:PvrunJobs = @{}
$global:PvrunRemote = [scriptblock]::Create(${quotePs(REMOTE_WRAPPER)})

function global:PvrunJson($obj) { ConvertTo-Json -InputObject $obj -Compress -Depth 6 }

function global:PvrunClassify([string]$msg) {
  if ($msg -match 'Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key') { return 'host-key-mismatch' }
  if ($msg -match 'Permission denied|Access is denied|[Aa]uthenticat|credentials|logon failure|[Uu]nauthorized|401') { return 'auth-failed' }
  # not a bare 'timeout': parameter names such as OpenTimeout show up in unrelated errors
  if ($msg -match 'timed out|timeout (period|expired)|operation timeout') { return 'timeout' }
  return 'unreachable'
}

function global:PvrunCloseSession([string]$Key) {
  $s = $global:PvrunSessions[$Key]
  if ($s) {
    $global:PvrunSessions.Remove($Key)
    try { Remove-PSSession -Session $s -ErrorAction Stop } catch { }
  }
}

function global:PvrunOpen([string]$Key, [string]$SpecJson, [string]$Secret) {
  $spec = ConvertFrom-Json -InputObject $SpecJson
  PvrunCloseSession $Key
  try {
    if ($spec.transport -eq 'ssh') {
      # BatchMode: fail instead of prompting for a password or a passphrase nobody can type
      $o = @{ BatchMode = 'yes'; LogLevel = 'ERROR'; StrictHostKeyChecking = [string]$spec.strictHostKeyChecking }
      if ($spec.knownHosts) { $o.UserKnownHostsFile = [string]$spec.knownHosts }
      $p = @{ HostName = [string]$spec.address; UserName = [string]$spec.user; Port = [int]$spec.port; Options = $o;
              ConnectingTimeout = [int]$spec.timeoutMs; ErrorAction = 'Stop' }
      if ($spec.key) { $p.KeyFilePath = [string]$spec.key }
      if ($spec.subsystem) { $p.Subsystem = [string]$spec.subsystem }
      $s = New-PSSession @p
    } else {
      # pwsh on Linux/macOS has a reduced New-PSSessionOption (no timeouts): pass what exists
      $known = (Get-Command New-PSSessionOption).Parameters
      $so = @{}
      if ($known.ContainsKey('OpenTimeout')) { $so.OpenTimeout = [int]$spec.timeoutMs }
      if ($known.ContainsKey('CancelTimeout')) { $so.CancelTimeout = 10000 }
      $p = @{ ComputerName = [string]$spec.address; SessionOption = (New-PSSessionOption @so); ErrorAction = 'Stop' }
      if ($Secret) {
        $pw = ConvertTo-SecureString -String $Secret -AsPlainText -Force
        $p.Credential = New-Object System.Management.Automation.PSCredential ([string]$spec.user, $pw)
      }
      if ($spec.https) { $p.UseSSL = $true }
      if ($spec.port) { $p.Port = [int]$spec.port }
      if ($spec.authentication) { $p.Authentication = [string]$spec.authentication }
      $s = New-PSSession @p
    }
    if ($spec.init) {
      try {
        Invoke-Command -Session $s -ScriptBlock ([scriptblock]::Create([string]$spec.init)) -ErrorAction Stop | Out-Null
      } catch {
        try { Remove-PSSession -Session $s } catch { }
        return PvrunJson @{ ok = $false; kind = 'unreachable'; message = 'session init failed: ' + $_.ToString() }
      }
    }
    $global:PvrunSessions[$Key] = $s
    PvrunJson @{ ok = $true }
  } catch {
    $m = $_.ToString()
    PvrunJson @{ ok = $false; kind = (PvrunClassify $m); message = $m }
  }
}

function global:PvrunSubmit([string]$Id, [string]$Key, [string]$Script, [int]$TimeoutMs) {
  $s = $global:PvrunSessions[$Key]
  if (-not $s) { return PvrunJson @{ ok = $false; kind = 'connection-lost'; message = 'no session'; notStarted = $true } }
  if ($s.State -ne 'Opened') {
    PvrunCloseSession $Key
    return PvrunJson @{ ok = $false; kind = 'connection-lost'; message = "session is $($s.State)"; notStarted = $true }
  }
  try {
    $j = Invoke-Command -Session $s -ScriptBlock $global:PvrunRemote -ArgumentList $Script -AsJob -ErrorAction Stop
  } catch {
    PvrunCloseSession $Key
    return PvrunJson @{ ok = $false; kind = 'connection-lost'; message = $_.ToString() }
  }
  $deadline = [DateTime]::MaxValue
  if ($TimeoutMs -gt 0) { $deadline = [DateTime]::UtcNow.AddMilliseconds($TimeoutMs) }
  $global:PvrunJobs[$Id] = @{ Job = $j; Deadline = $deadline; Key = $Key; Timeout = $TimeoutMs }
  PvrunJson @{ ok = $true }
}

function global:PvrunIsDone($j) { return $j.State -eq 'Completed' -or $j.State -eq 'Failed' -or $j.State -eq 'Stopped' }

# Collect finished commands; if none has finished, wait up to WaitMs for the first one.
function global:PvrunPoll([int]$WaitMs) {
  $entries = @($global:PvrunJobs.GetEnumerator())
  # a plain array: ConvertTo-Json of an empty generic List fails ("Argument types do not match")
  $out = @()
  if ($entries.Count -eq 0) { return PvrunJson $out }
  $any = $false
  foreach ($e in $entries) { if (PvrunIsDone $e.Value.Job) { $any = $true; break } }
  if (-not $any -and $WaitMs -gt 0) {
    # WaitAny takes at most 64 handles; with more jobs in flight the first 64 wake us, the rest are
    # picked up on the next poll
    $handles = @($entries | Select-Object -First 64 | ForEach-Object { $_.Value.Job.Finished })
    [void][System.Threading.WaitHandle]::WaitAny($handles, $WaitMs)
  }
  $now = [DateTime]::UtcNow
  foreach ($e in $entries) {
    $id = $e.Key; $rec = $e.Value; $j = $rec.Job
    if (PvrunIsDone $j) {
      $rerr = $null
      $items = @(Receive-Job -Job $j -ErrorAction SilentlyContinue -ErrorVariable rerr)
      $res = $null
      foreach ($it in $items) { if ($it -and $it.PSObject.Properties['exitCode']) { $res = $it } }
      if ($res) {
        $out += ,@{ id = $id; ok = $true; exitCode = [int]$res.exitCode; stdout = [string]$res.stdout; stderr = [string]$res.stderr }
      } else {
        $why = @($rerr | ForEach-Object { $_.ToString() })
        $reason = $j.ChildJobs | ForEach-Object { $_.JobStateInfo.Reason } | Where-Object { $_ } | Select-Object -First 1
        if ($reason) { $why += $reason.Message }
        $s = $global:PvrunSessions[$rec.Key]
        $state = 'none'
        if ($s) { $state = [string]$s.State }
        if ($state -ne 'Opened') { PvrunCloseSession $rec.Key }
        $out += ,@{ id = $id; ok = $false; kind = 'connection-lost'; message = ("job $($j.State), session $state" + ': ' + ($why -join '; ')) }
      }
      Remove-Job -Job $j -Force -ErrorAction SilentlyContinue
      $global:PvrunJobs.Remove($id)
    } elseif ($now -gt $rec.Deadline) {
      # stopping the job stops the remote pipeline (and the native command it runs)
      Stop-Job -Job $j -ErrorAction SilentlyContinue
      Remove-Job -Job $j -Force -ErrorAction SilentlyContinue
      $global:PvrunJobs.Remove($id)
      $out += ,@{ id = $id; ok = $false; kind = 'timeout'; message = "command timed out after $($rec.Timeout) ms and was stopped" }
    }
  }
  PvrunJson $out
}

function global:PvrunSessionState([string]$Key) {
  $s = $global:PvrunSessions[$Key]
  if ($s) { PvrunJson @{ state = [string]$s.State } } else { PvrunJson @{ state = 'none' } }
}
'pvrun-worker-ready'
`;
