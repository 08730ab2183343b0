import { Router } from 'express';
import { ServiceError } from '../errors.js';
import { ruleSummary } from '../rules/describe-rule.js';
import type { RuleSummary } from '../rules/describe-rule.js';
import type { Catalogue } from '../rules/load-catalogue.js';
import { methodNotAllowed } from './error-handler.js';
import { escapeHtml } from './html.js';

function ruleHtml(summary: RuleSummary): string {
  const tiers = summary.tiers
    .map((t) => `<h2>${escapeHtml(t.indicator)}</h2><p>${escapeHtml(t.summary)}</p><ul>${t.checks.map((c) => `<li>${escapeHtml(c)}</li>`).join('')}</ul>`)
    .join('');
  const valueSets = summary.valueSets
    .map(
      (v) =>
        `<li>${escapeHtml(v.title)} (<code>${escapeHtml(v.id)}</code>): ${v.codes} codes${v.descendantsOf.length > 0 ? `, ICD-10-CM ${escapeHtml(v.descendantsOf.join(', '))} and below` : ''} — ${escapeHtml(v.source)}</li>`,
    )
    .join('');
  const valueSetList = valueSets ? `<h2>Value sets</h2><ul>${valueSets}</ul>` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(summary.title)} — glutamine-cds</title></head><body><h1>${escapeHtml(summary.title)}</h1><p>${escapeHtml(summary.description)}</p>${tiers}${valueSetList}<p>Source: ${escapeHtml(summary.source)}.</p></body></html>`;
}

/** `GET /rules` and `GET /rules/:id`: what each rule checks (HTML for people, JSON for tools). */
export function rulePages(catalogue: Catalogue): Router {
  const router = Router();
  const summaries = new Map(catalogue.rules.map((r) => [r.id, ruleSummary(r, catalogue)]));
  router
    .route('/rules')
    .get((_req, res) => {
      res.json({ rules: [...summaries.values()] });
    })
    .all(methodNotAllowed('GET'));
  router
    .route('/rules/:ruleId')
    .get((req, res, next) => {
      const summary = summaries.get(req.params.ruleId);
      if (!summary) {
        next(new ServiceError('ERR_NOT_FOUND', `No rule with id '${req.params.ruleId}'`));
        return;
      }
      res.format({
        'text/html': () => res.send(ruleHtml(summary)),
        'application/json': () => res.json(summary),
      });
    })
    .all(methodNotAllowed('GET'));
  return router;
}
