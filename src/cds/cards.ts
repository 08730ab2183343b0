import type { Indicator, RuleDefinition, Tier } from '../rules/catalogue-schema.js';
import type { DataGap, Evidence, Finding } from '../rules/evidence.js';
import type { GlutamineOrder, UnreadableDraft } from '../rules/glutamine-orders.js';
import type { Catalogue } from '../rules/load-catalogue.js';
import type { Card } from './card-schema.js';
import { escapeMarkdown, truncate } from './markdown.js';

export interface CardContext {
  catalogue: Catalogue;
  orders: readonly GlutamineOrder[];
  /** The base URL the EHR calls; rule pages live under it. */
  publicUrl: string;
  newId: () => string;
}

const URGENCY: Record<Indicator, number> = { critical: 0, warning: 1, info: 2 };

const ORIGIN_TEXT: Record<Extract<Evidence, { kind: 'medication' }>['origin'], string> = {
  'medication-request': 'medication order',
  'medication-statement': 'medication statement',
  'draft-order': 'ordered in this session',
};

function evidenceLine(e: Evidence): string {
  switch (e.kind) {
    case 'condition': {
      const when = e.date ? `, ${e.dateLabel ?? 'recorded'} ${e.date}` : '';
      const code = e.code ? ` — ${e.system ?? ''} ${escapeMarkdown(e.code)}` : '';
      return `${escapeMarkdown(e.display)}${e.unconfirmed ? ' (unconfirmed)' : ''}${e.matchedByName ? ' (matched by name)' : ''}${code}${when}`;
    }
    case 'lab': {
      const value = e.interpretation
        ? `flagged ${escapeMarkdown(e.interpretation)} (no value reported)`
        : `${escapeMarkdown(e.reported)} ${escapeMarkdown(e.reportedUnit ?? e.unit)}`;
      const converted = e.converted ? ` (= ${e.converted.value} ${e.converted.unit}${e.converted.basis ? `, ${e.converted.basis}` : ''})` : '';
      const limit = e.limit
        ? `; upper limit ${e.limit.value} ${e.limit.unit}${e.limit.from === 'report' ? ' from the report' : ' (default, no reference range reported)'}`
        : '';
      const calculated = e.calculatedFrom ? ` — ${escapeMarkdown(e.calculatedFrom)}` : '';
      return `${escapeMarkdown(e.label)}: ${value}${converted}${e.date && !e.calculatedFrom ? ` on ${e.date}` : ''}${limit}${calculated}`;
    }
    case 'medication': {
      const name = e.note ? `On ${escapeMarkdown(e.name)} (${escapeMarkdown(e.note)})` : escapeMarkdown(e.name);
      return `${name} — ${ORIGIN_TEXT[e.origin]}${e.status && e.origin !== 'draft-order' ? ` (${escapeMarkdown(e.status)})` : ''}`;
    }
    case 'order':
      return `${e.label}: ${escapeMarkdown(e.value)}`;
  }
}

interface CardText {
  summary: string;
  reason: string;
  advice: string;
}

/** The tier's text, overridden by the matched criterion's own words where it has them. */
function cardText(tier: Tier, criterionIndex: number): CardText {
  const criterion = typeof tier.when === 'string' ? undefined : tier.when[criterionIndex];
  return {
    summary: criterion?.text?.summary ?? tier.summary,
    reason: criterion?.text?.reason ?? tier.reason,
    advice: criterion?.text?.advice ?? tier.advice,
  };
}

function detail(text: CardText, lines: string[], heading: string, rule: RuleDefinition, catalogue: Catalogue, order?: GlutamineOrder): string {
  const parts = [text.reason, `**${heading}**\n\n${lines.map((l) => `- ${l}`).join('\n')}`, `**What to do:** ${text.advice}`];
  if (order) parts.push(`Order checked: ${escapeMarkdown(order.name)}.`);
  // No "Source: …" line: the card's source.label names it and EHRs show it (revision 2, item 28).
  return parts.join('\n\n');
}

function source(rule: RuleDefinition, ctx: CardContext): Card['source'] {
  return {
    label: ctx.catalogue.sources[rule.source]?.label ?? rule.source,
    url: `${ctx.publicUrl}/rules/${rule.id}`,
    topic: { system: ctx.catalogue.ruleCodeSystem, code: rule.id, display: rule.title },
  };
}

function overrideReasons(rule: RuleDefinition, catalogue: Catalogue): Pick<Card, 'overrideReasons'> {
  if (rule.overrideReasons.length === 0) return {};
  return {
    overrideReasons: rule.overrideReasons.map((code) => ({
      system: catalogue.overrideReasonSystem,
      code,
      display: catalogue.overrideReasons[code] ?? code,
    })),
  };
}

/** CDS Hooks 2.0 §Suggestion: delete the draft by `resourceId`; selectionBehavior is then required. */
function removeOrder(order: GlutamineOrder, ctx: CardContext): Pick<Card, 'suggestions' | 'selectionBehavior'> {
  if (!order.reference) return {};
  const { label, actionDescription } = ctx.catalogue.removeOrderSuggestion;
  return {
    suggestions: [{ label, uuid: ctx.newId(), actions: [{ type: 'delete', description: actionDescription, resourceId: order.reference }] }],
    selectionBehavior: 'at-most-one',
  };
}

function findingCard(finding: Finding, ctx: CardContext): Card | undefined {
  const rule = ctx.catalogue.rules.find((r) => r.id === finding.ruleId);
  const tier = rule?.tiers[finding.tier];
  const order = ctx.orders.find((o) => (o.reference ?? o.name) === finding.orderReference);
  if (!rule || !tier || !order) return undefined;
  const several = ctx.orders.length > 1;
  const text = cardText(tier, finding.criterion);
  return {
    uuid: ctx.newId(),
    summary: truncate(several ? `${text.summary} — ${order.name}` : text.summary, 139),
    indicator: finding.indicator,
    detail: detail(text, finding.evidence.map(evidenceLine), 'This patient and order', rule, ctx.catalogue, several ? order : undefined),
    source: source(rule, ctx),
    ...((tier.removeOrder ?? rule.removeOrder) ? removeOrder(order, ctx) : {}),
    ...overrideReasons(rule, ctx.catalogue),
  };
}

function gapsCard(gaps: readonly DataGap[], ctx: CardContext): Card | undefined {
  const rule = ctx.catalogue.rules.find((r) => r.tiers.some((t) => t.when === 'data-unavailable'));
  const tier = rule?.tiers.find((t) => t.when === 'data-unavailable');
  if (!rule || !tier || gaps.length === 0) return undefined;
  const titles = new Map(ctx.catalogue.rules.map((r) => [r.id, r.title.toLowerCase()]));
  const lines = gaps.map((g) => `${escapeMarkdown(g.description)} — not checked: ${g.rules.map((id) => titles.get(id) ?? id).join(', ')}`);
  // The summary names the real causes ("… could not be done: unreadable lab unit"), most common first.
  const causes = [...new Set(gaps.map((g) => g.cause))].map((cause) => tier.causes?.[cause] ?? cause);
  return {
    uuid: ctx.newId(),
    summary: truncate(`${tier.summary}: ${causes.join('; ')}`, 139),
    indicator: tier.indicator,
    detail: detail(tier, lines, 'Not checked', rule, ctx.catalogue),
    source: source(rule, ctx),
    ...overrideReasons(rule, ctx.catalogue),
  };
}

/** A draft that may be glutamine but whose Medication could not be read, and why. */
export interface UnreadableOrder extends UnreadableDraft {
  why: string;
}

function unreadableCard(unreadable: readonly UnreadableOrder[], ctx: CardContext): Card | undefined {
  const rule = ctx.catalogue.rules.find((r) => r.tiers.some((t) => t.when === 'order-unreadable'));
  const tier = rule?.tiers.find((t) => t.when === 'order-unreadable');
  if (!rule || !tier || unreadable.length === 0) return undefined;
  const lines = unreadable.map((u) => `${escapeMarkdown(u.order)} names its product only as ${escapeMarkdown(u.medication)}, which could not be read: ${escapeMarkdown(u.why)}`);
  return {
    uuid: ctx.newId(),
    summary: tier.summary,
    indicator: tier.indicator,
    detail: detail(tier, lines, 'Not checked', rule, ctx.catalogue),
    source: source(rule, ctx),
  };
}

/** Findings and data gaps → cards, most urgent first (critical, warning, info), then catalogue order. */
export function buildCards(findings: readonly Finding[], gaps: readonly DataGap[], ctx: CardContext, unreadable: readonly UnreadableOrder[] = []): Card[] {
  const ruleOrder = new Map(ctx.catalogue.rules.map((r, i) => [r.id, i]));
  const sorted = [...findings].sort(
    (a, b) => URGENCY[a.indicator] - URGENCY[b.indicator] || (ruleOrder.get(a.ruleId) ?? 0) - (ruleOrder.get(b.ruleId) ?? 0),
  );
  const cards = sorted.map((f) => findingCard(f, ctx)).filter((c): c is Card => c !== undefined);
  const gapCard = gapsCard(gaps, ctx);
  if (gapCard) cards.push(gapCard);
  const unreadableOrders = unreadableCard(unreadable, ctx);
  if (unreadableOrders) cards.push(unreadableOrders);
  return cards.sort((a, b) => URGENCY[a.indicator] - URGENCY[b.indicator]);
}
