import { existsSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import serverlessChromium from '@sparticuz/chromium';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES_DIR, NO_OUTBOUND_FHIR_POLICY, PUBLIC_URL, testApp } from './helpers.js';

/**
 * The card preview in a real browser driven by playwright-core. The browser comes from the npm
 * registry (@sparticuz/chromium ships a Chromium binary inside the package), so `npm ci` is all a
 * fresh machine needs; Debian's Chromium is used instead only when it is installed.
 */

const DEBIAN_CHROMIUM = '/usr/bin/chromium';
// Debian's Chromium as root needs no sandbox; the others keep it off the closed network.
const DEBIAN_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

async function launchBrowser(): Promise<Browser> {
  if (existsSync(DEBIAN_CHROMIUM)) return chromium.launch({ executablePath: DEBIAN_CHROMIUM, args: DEBIAN_ARGS });
  return chromium.launch({ executablePath: await serverlessChromium.executablePath(), args: serverlessChromium.args });
}
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));

function previewApp(preview = true) {
  return testApp({ fixturesDir: FIXTURES_DIR, config: { publicUrl: PUBLIC_URL, maxBodyBytes: 1024 * 1024, fhir: NO_OUTBOUND_FHIR_POLICY, preview } }).app;
}

describe('GET /preview', () => {
  it('is off by default', async () => {
    await request(previewApp(false)).get('/preview').expect(404);
  });

  it('lists the fixtures and renders sanitised card markdown', async () => {
    const app = previewApp();
    const list = await request(app).get('/preview').expect(200);
    expect(list.text).toContain('<option value="bundles/liver-disease-alcoholic-cirrhosis">');
    const shown = await request(app).get('/preview?fixture=scenarios/cirrhosis-high-ammonia-lactulose-ckd4').expect(200);
    expect(shown.text).toContain(
      '<article class="card critical" data-indicator="critical" data-rule="liver-disease" data-findings="liver-disease hyperammonemia lactulose"',
    );
    expect(shown.text).toContain('Findings: liver-disease (critical), hyperammonemia (critical), lactulose (warning)');
    expect(shown.text).toContain('<strong>What to do:</strong>');
    expect(shown.text).toContain('<li>Ammonia [Moles/volume] in Plasma: 95 µmol/L on 2026-11-25; upper limit 40 µmol/L from the report</li>');
    expect(shown.text).not.toMatch(/<script/i);
  });

  it('reads only fixtures from its own list', async () => {
    const res = await request(previewApp()).get('/preview?fixture=../package').expect(200);
    expect(res.text).not.toContain('"dependencies"');
    expect(res.text).not.toContain('id="cards"');
  });
});

describe('card preview in headless Chromium', () => {
  let browser: Browser | undefined;
  let server: Server;
  let base = '';

  beforeAll(async () => {
    server = previewApp().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    browser = await launchBrowser();
  }, 60000);

  afterAll(async () => {
    await browser?.close();
    server.closeAllConnections();
    server.close();
  });

  it('opens the page, picks a cirrhosis fixture and shows the critical card', async () => {
    if (!browser) throw new Error('no browser');
    const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    await page.goto(`${base}/preview`);
    await page.selectOption('#fixture', 'bundles/liver-disease-alcoholic-cirrhosis');
    await Promise.all([page.waitForURL(/fixture=bundles%2Fliver-disease-alcoholic-cirrhosis/), page.click('#show')]);
    const card = page.locator('article.card[data-indicator="critical"]');
    await expect.poll(() => card.count()).toBe(1);
    expect(await card.locator('.summary').innerText()).toBe('Avoid glutamine: advanced liver disease (risk of hepatic encephalopathy)');
    // The colour the browser actually paints (the test compiles without DOM types, hence the cast).
    const computedBackground = (el: unknown): string =>
      (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor;
    expect(await card.locator('.indicator').evaluate(computedBackground)).toBe('rgb(179, 38, 30)');
    expect(await card.locator('.detail li').first().innerText()).toContain('Alcoholic cirrhosis of liver without ascites');
    expect(await card.locator('button.suggestion').innerText()).toBe('Remove glutamine order');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}preview-liver-disease.png`, fullPage: true });
    expect(existsSync(`${ARTIFACTS}preview-liver-disease.png`)).toBe(true);
    await page.close();
  }, 60000);
});
