import { existsSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES_DIR, NO_OUTBOUND_FHIR_POLICY, PUBLIC_URL, testApp } from './helpers.js';

/**
 * The card preview in a real browser: Debian's Chromium (apt package `chromium`, installed by
 * .ci/run when missing) driven by playwright-core.
 */

const CHROMIUM = '/usr/bin/chromium';
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
    expect(shown.text).toContain('<article class="card critical" data-indicator="critical" data-rule="liver-disease"');
    expect(shown.text).toContain('<strong>What to do:</strong>');
    expect(shown.text).toContain('<li>Ammonia [Moles/volume] in Plasma: 95 umol/L on 2026-11-25; upper limit 40 µmol/L from the report</li>');
    expect(shown.text).not.toMatch(/<script/i);
  });

  it('reads only fixtures from its own list', async () => {
    const res = await request(previewApp()).get('/preview?fixture=../package').expect(200);
    expect(res.text).not.toContain('"dependencies"');
    expect(res.text).not.toContain('id="cards"');
  });
});

describe('card preview in headless Chromium', () => {
  let browser: Browser;
  let server: Server;
  let base = '';

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (.ci/run does)`);
    server = previewApp().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  }, 60000);

  afterAll(async () => {
    await browser.close();
    server.closeAllConnections();
    server.close();
  });

  it('opens the page, picks a cirrhosis fixture and shows the critical card', async () => {
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
