import { Router } from 'express';
import { ServiceError } from '../errors.js';
import type { Criterion, RuleDefinition } from '../rules/catalogue-schema.js';
import type { Catalogue } from '../rules/load-catalogue.js';
import { methodNotAllowed } from './error-handler.js';

/** What a rule checks, in words, for the page a card's `source.url` points to. */
export interface RuleSummary {
  id: string;
  title: string;
  description: string;
  source: string;
  tiers: Array<{ indicator: string; summary: string; checks: string[] }>;
}

function describeCriterion(criterion: Criterion, catalogue: Catalogue): string {
  if ('condition' in criterion) {
    const vs = catalogue.valueSets.get(criterion.condition.valueSet);
    return `Active condition in value set "${vs?.title ?? criterion.condition.valueSet}" (${vs?.concepts.length ?? 0} codes)`;
  }
  if ('medication' in criterion) {
    const vs = catalogue.valueSets.get(criterion.medication.valueSet);
    return `Current medication or other draft order: "${vs?.title ?? criterion.medication.valueSet}" (${vs?.concepts.length ?? 0} codes) or named ${criterion.medication.names.join(', ')}`;
  }
  const analyte = catalogue.analytes.get(criterion.lab.analyte);
  const label = analyte?.label ?? criterion.lab.analyte;
  const threshold =
    typeof criterion.lab.threshold === 'number'
      ? `${criterion.lab.threshold} ${analyte?.unit ?? ''}`.trim()
      : `${criterion.lab.threshold.upperLimitTimes === 1 ? '' : `${criterion.lab.threshold.upperLimitTimes} × `}the upper limit (report's reference range, else ${analyte?.defaultUpperLimit ?? '?'} ${analyte?.unit ?? ''})`;
  const compare = { above: 'above', 'at-least': 'at least', below: 'below' }[criterion.lab.compare];
  const flags = criterion.lab.interpretationsWhenNoValue ? `, or flagged ${criterion.lab.interpretationsWhenNoValue.join('/')} without a value` : '';
  return `Latest ${label} of the last ${analyte?.lookbackDays ?? '?'} days ${compare} ${threshold}${flags}`;
}

export function ruleSummary(rule: RuleDefinition, catalogue: Catalogue): RuleSummary {
  return {
    id: rule.id,
    title: rule.title,
    description: rule.description,
    source: catalogue.sources[rule.source]?.label ?? rule.source,
    tiers: rule.tiers.map((t) => ({
      indicator: t.indicator,
      summary: t.summary,
      checks: t.when === 'data-unavailable' ? ['Patient data the other rules need was not available'] : t.when.map((c) => describeCriterion(c, catalogue)),
    })),
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function ruleHtml(summary: RuleSummary): string {
  const tiers = summary.tiers
    .map((t) => `<h2>${escapeHtml(t.indicator)}</h2><p>${escapeHtml(t.summary)}</p><ul>${t.checks.map((c) => `<li>${escapeHtml(c)}</li>`).join('')}</ul>`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(summary.title)} — glutamine-cds</title></head><body><h1>${escapeHtml(summary.title)}</h1><p>${escapeHtml(summary.description)}</p>${tiers}<p>Source: ${escapeHtml(summary.source)}.</p></body></html>`;
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
