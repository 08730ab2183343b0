import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Router } from 'express';
import { marked } from 'marked';
import sanitizeHtml from 'sanitize-html';
import type { Card } from '../cds/card-schema.js';
import { cardFindings } from '../cds/cards.js';
import type { FhirAccessPolicy } from '../cds/fhir-access.js';
import { callHook, serviceForHook } from '../cds/hook-call.js';
import { requestFromBundle } from '../cds/request-from-bundle.js';
import type { Catalogue } from '../rules/load-catalogue.js';
import { escapeHtml } from './html.js';

/**
 * `GET /preview` (CDS_PREVIEW=true): the fixture library rendered as an EHR would show the cards —
 * for integrators and informaticists, never for production. Server-side rendered, no scripts; card
 * markdown goes through marked and then sanitize-html.
 */

export interface PreviewDeps {
  catalogue: Catalogue;
  fixturesDir: string;
  publicUrl: string;
}

/** The preview never reaches out to a FHIR server: fixtures carry their data. */
const NO_FETCH: FhirAccessPolicy = {
  timeoutMs: 1,
  budgetMs: 1,
  allowHttp: false,
  allowlist: ['https://preview.invalid/fhir'],
  maxPages: 1,
  maxResponseBytes: 1,
};

const COLORS: Record<Card['indicator'], string> = { critical: '#b3261e', warning: '#9a6700', info: '#1f5fa8' };

function markdownToSafeHtml(markdown: string): string {
  const html = marked.parse(markdown, { async: false, gfm: true });
  return sanitizeHtml(html, {
    allowedTags: ['p', 'strong', 'em', 'ul', 'ol', 'li', 'code', 'pre', 'a', 'br', 'h3', 'h4', 'blockquote'],
    allowedAttributes: { a: ['href'] },
    allowedSchemes: ['https', 'http'],
  });
}

/** The fixtures the preview offers: `scenarios/<name>` hook requests and `bundles/<name>` patient bundles. */
function listFixtures(fixturesDir: string): string[] {
  const list: string[] = [];
  for (const dir of ['bundles', 'scenarios']) {
    const path = join(fixturesDir, dir);
    if (!existsSync(path)) continue;
    for (const file of readdirSync(path).sort()) {
      if (file.endsWith('.json') && !file.endsWith('.expected.json')) list.push(`${dir}/${file.replace(/\.json$/, '')}`);
    }
  }
  return list;
}

function renderCard(card: Card): string {
  const color = COLORS[card.indicator];
  const suggestions = (card.suggestions ?? [])
    .map(
      (s) =>
        `<button type="button" class="suggestion" disabled>${escapeHtml(s.label)}</button> <small>${escapeHtml((s.actions ?? []).map((a) => `${a.type} ${a.resourceId ?? ''}`).join(', '))}</small>`,
    )
    .join(' ');
  const reasons = card.overrideReasons
    ? `<details><summary>Override reasons</summary><ul>${card.overrideReasons.map((r) => `<li>${escapeHtml(r.display)}</li>`).join('')}</ul></details>`
    : '';
  const links = (card.links ?? []).map((l) => `<a href="${escapeHtml(l.url)}">${escapeHtml(l.label)}</a>`).join(' · ');
  const source = card.source.url ? `<a href="${escapeHtml(card.source.url)}">${escapeHtml(card.source.label)}</a>` : escapeHtml(card.source.label);
  // What a merged card carries (its extension), so integrators see every rule behind it.
  const findings = cardFindings(card)
    .map((f) => `${f.rule} (${f.indicator})`)
    .join(', ');
  return `<article class="card ${card.indicator}" data-indicator="${card.indicator}" data-rule="${escapeHtml(card.source.topic?.code ?? '')}" data-findings="${escapeHtml(
    cardFindings(card)
      .map((f) => f.rule)
      .join(' '),
  )}" style="border-left-color:${color}">
<header><span class="indicator" style="background:${color}">${card.indicator}</span> <strong class="summary">${escapeHtml(card.summary)}</strong></header>
<div class="detail">${markdownToSafeHtml(card.detail ?? '')}</div>
<footer>${suggestions}${reasons}${links ? `<p>${links}</p>` : ''}<p class="source">Source: ${source}</p>${findings ? `<p class="findings"><small>Findings: ${escapeHtml(findings)}</small></p>` : ''}</footer>
</article>`;
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
.card{border:1px solid #ccc;border-left:6px solid;border-radius:6px;padding:.75rem 1rem;margin:1rem 0;background:#fafafa}
.indicator{color:#fff;border-radius:4px;padding:.1rem .45rem;text-transform:uppercase;font-size:.8rem;font-weight:700}
.detail{margin:.5rem 0}.source{font-size:.85rem;color:#555}pre{background:#f0f0f0;padding:.75rem;overflow:auto;max-height:30rem;font-size:.8rem}
.suggestion{margin:.25rem 0}form{margin:1rem 0}`;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} — glutamine-cds preview</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

export function previewRoutes(deps: PreviewDeps): Router {
  const router = Router();
  router.get('/preview', async (req, res) => {
    const fixtures = listFixtures(deps.fixturesDir);
    const chosen = typeof req.query.fixture === 'string' ? req.query.fixture : undefined;
    const now = typeof req.query.now === 'string' && !Number.isNaN(Date.parse(req.query.now)) ? req.query.now : '2026-11-26';
    const options = fixtures.map((f) => `<option value="${escapeHtml(f)}"${f === chosen ? ' selected' : ''}>${escapeHtml(f)}</option>`).join('');
    const form = `<h1>Card preview</h1><p>The cards each fixture produces, as a clinician would see them (look-back windows as of ${escapeHtml(now)}).</p>
<form method="get" action="preview"><label>Fixture <select name="fixture" id="fixture">${options}</select></label>
<input type="hidden" name="now" value="${escapeHtml(now)}"> <button type="submit" id="show">Show cards</button></form>`;
    // Only names from the list are read: no path from the query reaches the file system.
    if (!chosen || !fixtures.includes(chosen)) {
      res.type('html').send(page('Fixtures', form));
      return;
    }
    const json = JSON.parse(readFileSync(join(deps.fixturesDir, `${chosen}.json`), 'utf8')) as Record<string, unknown>;
    let request: Record<string, unknown>;
    let body: string;
    try {
      request = json.resourceType === 'Bundle' ? requestFromBundle(json, 'order-sign', deps.catalogue) : json;
      const service = serviceForHook(deps.catalogue, request.hook);
      const result = await callHook(service, request, {
        catalogue: deps.catalogue,
        publicUrl: deps.publicUrl,
        fhir: NO_FETCH,
        now: () => new Date(now),
        newId: randomUUID,
      });
      const cards = result.response.cards.map(renderCard).join('\n');
      body = `<section id="cards"><h2>${escapeHtml(chosen)}: ${result.response.cards.length} card(s)</h2>${cards || '<p>No cards.</p>'}</section>
<details><summary>Request</summary><pre>${escapeHtml(JSON.stringify(request, null, 2))}</pre></details>
<details><summary>Response</summary><pre>${escapeHtml(JSON.stringify(result.response, null, 2))}</pre></details>`;
    } catch (error) {
      body = `<p class="error">This fixture cannot be shown: ${escapeHtml((error as Error).message)}</p>`;
    }
    res.type('html').send(page(chosen, `${form}${body}`));
  });
  return router;
}
