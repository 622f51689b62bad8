/**
 * The HTML report of a real lab rollout (linux-tools.yml: a canary, a VM with tools already, a
 * VM whose install fails and is rolled back), written by `--html` at the end of the run and by
 * `pvrun report last`, loaded in Debian's headless Chromium over the DevTools protocol: one
 * timeline row per host, the failed step marked, the rollback and the reboot drawn, a step's
 * output opened by a click, the filters hiding rows, and no request leaving the page (every
 * host name resolves to nothing, the page's CSP forbids fetches, and no request other than the
 * file itself is made). The screenshot is checked as a PNG; with PVRUN_WRITE_DOCS_SCREENSHOT=1
 * it is written to docs/report.png.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeUnless, firstReason, requireBinary } from '../harness/require.js';
import { LINUX_TOOLS, REPO, labSkipReason, pvrun, recapOutcomes, startLab, type StartedLab } from '../e2e/harness.js';
import { Browser, CHROMIUM, type Page } from './cdp.js';

const skip = firstReason(labSkipReason(), requireBinary(CHROMIUM, 'Debian package chromium'));

interface Row { host: string; outcome: string; steps: { status: string; failed: boolean; reboot: boolean; label: string }[]; rollbacks: string[]; visible: boolean }

describeUnless(skip)('the HTML report of a lab rollout, in headless Chromium', () => {
  let l: StartedLab;
  let run: Awaited<ReturnType<typeof pvrun>>;
  let browser: Browser;
  let page: Page;
  let reportFile: string;
  const rows = (): Promise<Row[]> => page.eval<Row[]>(`[...document.querySelectorAll('.host')].map((h) => ({
    host: h.dataset.host, outcome: h.dataset.outcome, visible: h.getClientRects().length > 0,
    steps: [...h.querySelectorAll('button.step')].map((b) => ({ status: b.dataset.status, failed: b.classList.contains('failed'), reboot: b.classList.contains('reboot'), label: b.title })),
    rollbacks: [...h.querySelectorAll('button.rollback')].map((b) => b.title) }))`);

  beforeAll(async () => {
    l = await startLab([
      { name: 'web-01', distro: 'ubuntu', version: '22.04' },
      { name: 'db-02', distro: 'alma', version: '9', toolsInstalled: true },
      { name: 'legacy-01', distro: 'centos', version: '7', faults: { installFails: true } },
    ], 'report');
    reportFile = join(l.dir, 'report.html');
    run = await pvrun([LINUX_TOOLS, '-i', l.inventory, '--state-dir', join(l.dir, 'pvrun'), '--html', reportFile]);
    browser = Browser.launch();
    page = await browser.page();
    await page.send('Network.enable');
    await page.send('Page.enable');
    await page.send('Runtime.enable');
    await page.send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 720, deviceScaleFactor: 1, mobile: false });
    // CSP violations are reported to the page: a blocked fetch attempt would be recorded here
    await page.send('Page.addScriptToEvaluateOnNewDocument', { source: 'window.__csp = []; document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.blockedURI + " " + e.violatedDirective));' });
    await page.send('Page.navigate', { url: pathToFileURL(reportFile).href });
    await browser.waitFor('Page.loadEventFired');
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await l?.lab.stop();
    if (l) rmSync(l.dir, { recursive: true, force: true });
  });

  it('the run ended as designed and --html wrote the report', () => {
    expect(recapOutcomes(run.out)).toEqual({ 'web-01': 'changed', 'db-02': 'skipped', 'legacy-01': 'rolled-back' });
    expect(run.code).toBe(2);
    expect(run.err).toContain(`pvrun: report written to ${reportFile}`);
    expect(existsSync(reportFile)).toBe(true);
  });

  it('one timeline row per host, with its outcome; the recap says the same', async () => {
    const r = await rows();
    expect(r.map((x) => [x.host, x.outcome]).sort()).toEqual([['db-02', 'skipped'], ['legacy-01', 'rolled-back'], ['web-01', 'changed']]);
    const recap = await page.eval<string[][]>(`[...document.querySelectorAll('tr.host-recap')].map((t) => [t.cells[0].textContent, t.cells[1].textContent]).sort()`);
    expect(recap).toEqual([['db-02', 'skipped'], ['legacy-01', 'rolled-back'], ['web-01', 'changed']]);
    expect(await page.eval<string>('document.getElementById("exit-code").textContent')).toBe('2');
    // serial [1, "50%"]: the canary alone, then the two others one at a time
    expect(await page.eval<number>('document.querySelectorAll(".batch").length')).toBe(3);
  });

  it('the failed step is red, the rollback is drawn, the reboot is marked', async () => {
    const r = Object.fromEntries((await rows()).map((x) => [x.host, x]));
    const legacy = r['legacy-01']!;
    expect(legacy.steps.filter((s) => s.failed).map((s) => s.label.split(':')[0])).toEqual(['run the installer (run-script)']);
    expect(legacy.rollbacks).toHaveLength(1);
    expect(legacy.rollbacks[0]).toMatch(/^rollback \(reverted\): ok, /);
    const bg = await page.eval<string>(`getComputedStyle(document.querySelector('[data-host="legacy-01"] button.step.failed')).backgroundColor`);
    expect(bg).toBe('rgb(211, 47, 47)');
    expect(r['web-01']!.steps.filter((s) => s.reboot).map((s) => s.status)).toEqual(['changed']);
    expect(r['web-01']!.steps.some((s) => s.failed)).toBe(false);
    expect(r['web-01']!.rollbacks).toEqual([]);
    expect(r['db-02']!.steps.map((s) => s.status)).toContain('skipped');
  });

  it('a click on the failed step opens its output; a second click closes it', async () => {
    const sel = `[data-host="legacy-01"] button.step.failed`;
    const panelVisible = `(() => { const b = document.querySelector('${sel}'); const p = document.getElementById(b.dataset.panel); return p.getClientRects().length > 0 ? p.textContent : null; })()`;
    expect(await page.eval<string | null>(panelVisible)).toBeNull();
    await page.eval(`document.querySelector('${sel}').click()`);
    const text = await page.eval<string | null>(panelVisible);
    expect(text).toContain('Fatal Error: failed to install');
    expect(text).toContain('failed');
    await page.eval(`document.querySelector('${sel}').click()`);
    expect(await page.eval<string | null>(panelVisible)).toBeNull();
  });

  it('the outcome filters hide and show rows', async () => {
    await page.eval(`document.querySelector('input.filter[value="changed"]').click()`);
    let r = await rows();
    expect(r.filter((x) => x.visible).map((x) => x.host).sort()).toEqual(['db-02', 'legacy-01']);
    await page.eval(`document.querySelector('input.filter[value="changed"]').click()`);
    r = await rows();
    expect(r.filter((x) => x.visible).map((x) => x.host).sort()).toEqual(['db-02', 'legacy-01', 'web-01']);
  });

  it('no request leaves the page', async () => {
    const html = readFileSync(reportFile, 'utf8');
    expect(html).not.toMatch(/\b(src|href|srcset|action)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none';`);
    const urls = page.events('Network.requestWillBeSent').map((p) => (p['request'] as { url: string }).url);
    expect(urls).toEqual([pathToFileURL(reportFile).href]);
    expect(await page.eval<string[]>('window.__csp')).toEqual([]);
    expect(await page.eval<number>('performance.getEntriesByType("resource").length')).toBe(0);
  });

  it('`pvrun report last` writes the same timeline; the screenshot is a PNG', async () => {
    const again = join(l.dir, 'again.html');
    const r = await pvrun(['report', 'last', '-o', again, '--state-dir', join(l.dir, 'pvrun')]);
    expect(r.code).toBe(0);
    const strip = (s: string): string => s.replace(/written by pvrun at [^<]* from/, '');
    expect(strip(readFileSync(again, 'utf8'))).toBe(strip(readFileSync(reportFile, 'utf8')));

    // the failed step's output open, the whole page
    await page.eval(`document.querySelector('[data-host="legacy-01"] button.step.failed').click()`);
    const h = await page.eval<number>('Math.ceil(document.documentElement.scrollHeight)');
    await page.send('Emulation.setDeviceMetricsOverride', { width: 1280, height: Math.min(h, 4000), deviceScaleFactor: 1, mobile: false });
    const shot = await page.send('Page.captureScreenshot', { format: 'png' }) as { data: string };
    const png = Buffer.from(shot.data, 'base64');
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(png.readUInt32BE(16)).toBe(1280); // IHDR width
    expect(png.length).toBeGreaterThan(20_000);
    writeFileSync(join(l.dir, 'report.png'), png);
    if (process.env['PVRUN_WRITE_DOCS_SCREENSHOT'] === '1') writeFileSync(join(REPO, 'docs', 'report.png'), png);
  });
});
