import type { Indicator, RuleDefinition, Tier } from '../rules/catalogue-schema.js';
import type { DataGap, Finding } from '../rules/evidence.js';
import type { GlutamineOrder, UnreadableDraft } from '../rules/glutamine-orders.js';
import type { Catalogue } from '../rules/load-catalogue.js';
import type { Card } from './card-schema.js';
import { evidenceLine } from './evidence-line.js';
import { escapeMarkdown, truncate } from './markdown.js';

export interface CardContext {
  catalogue: Catalogue;
  orders: readonly GlutamineOrder[];
  /** The base URL the EHR calls; rule pages live under it. */
  publicUrl: string;
  newId: () => string;
  /** The order is already signed (medication-verify): no delete suggestion; the prescriber is named instead. */
  signedOrder?: boolean;
}

/** A draft that may be glutamine but whose Medication could not be read, and why. */
export interface UnreadableOrder extends UnreadableDraft {
  why: string;
}

/** What a card carries, machine-readably (CDS Hooks 2.0 allows `extension`; clients ignore what they do not know). */
const FINDINGS_EXTENSION = 'glutamine-cds.findings';
const ORDER_EXTENSION = 'glutamine-cds.order';

/** The findings a card carries, from its extension (every card the service builds has one). */
export function cardFindings(card: Card): Array<{ rule: string; indicator: Indicator }> {
  const findings = card.extension?.[FINDINGS_EXTENSION];
  return Array.isArray(findings) ? (findings as Array<{ rule: string; indicator: Indicator }>) : [];
}

const URGENCY: Record<Indicator, number> = { critical: 0, warning: 1, info: 2 };

interface CardText {
  summary: string;
  reason: string;
  advice: string;
}

/** One rule's part of a card: its words, the patient's evidence, and whether it advises removal. */
interface Section {
  rule: RuleDefinition;
  indicator: Indicator;
  text: CardText;
  heading: string;
  lines: string[];
  removes: boolean;
}

/** The tier's text, overridden by the matched criterion's own words, then by the patient's (textIfConditionNamed). */
function cardText(tier: Tier, finding: Finding): CardText {
  const criterion = typeof tier.when === 'string' ? undefined : tier.when[finding.criterion];
  return {
    summary: criterion?.text?.summary ?? tier.summary,
    reason: finding.text?.reason ?? criterion?.text?.reason ?? tier.reason,
    advice: finding.text?.advice ?? criterion?.text?.advice ?? tier.advice,
  };
}

function findingSection(finding: Finding, catalogue: Catalogue): Section | undefined {
  const rule = catalogue.rules.find((r) => r.id === finding.ruleId);
  const tier = rule?.tiers[finding.tier];
  if (!rule || !tier) return undefined;
  return {
    rule,
    indicator: finding.indicator,
    text: cardText(tier, finding),
    heading: 'This patient and order',
    lines: finding.evidence.map(evidenceLine),
    removes: tier.removeOrder ?? rule.removeOrder,
  };
}

/** The rule and tier for one of the service's own situations (data-unavailable, order-unreadable). */
function situation(catalogue: Catalogue, when: 'data-unavailable' | 'order-unreadable'): { rule: RuleDefinition; tier: Tier } | undefined {
  const rule = catalogue.rules.find((r) => r.tiers.some((t) => t.when === when));
  const tier = rule?.tiers.find((t) => t.when === when);
  return rule && tier ? { rule, tier } : undefined;
}

function gapsSection(gaps: readonly DataGap[], catalogue: Catalogue): Section | undefined {
  const found = situation(catalogue, 'data-unavailable');
  if (!found || gaps.length === 0) return undefined;
  const { rule, tier } = found;
  const titles = new Map(catalogue.rules.map((r) => [r.id, r.title.toLowerCase()]));
  // The summary names the real causes ("… could not be done: unreadable lab unit"), revision 2, item 18.
  const causes = [...new Set(gaps.map((g) => g.cause))].map((cause) => tier.causes?.[cause] ?? cause);
  return {
    rule,
    indicator: tier.indicator,
    text: { summary: truncate(`${tier.summary}: ${causes.join('; ')}`, 139), reason: tier.reason, advice: tier.advice },
    heading: 'Not checked',
    lines: gaps.map((g) => `${escapeMarkdown(g.description)} — not checked: ${g.rules.map((id) => titles.get(id) ?? id).join(', ')}`),
    removes: false,
  };
}

function unreadableSection(unreadable: readonly UnreadableOrder[], catalogue: Catalogue): Section | undefined {
  const found = situation(catalogue, 'order-unreadable');
  if (!found || unreadable.length === 0) return undefined;
  const { rule, tier } = found;
  return {
    rule,
    indicator: tier.indicator,
    text: tier,
    heading: 'Not checked',
    lines: unreadable.map(
      (u) => `${escapeMarkdown(u.order)} names its product only as ${escapeMarkdown(u.medication)}, which could not be read: ${escapeMarkdown(u.why)}`,
    ),
    removes: false,
  };
}

function sectionText(section: Section, titled: boolean): string {
  const evidence = `**${section.heading}**\n\n${section.lines.map((l) => `- ${l}`).join('\n')}`;
  const parts = [section.text.reason, evidence, `**What to do:** ${section.text.advice}`];
  return (titled ? [`**${escapeMarkdown(section.text.summary)}**`, ...parts] : parts).join('\n\n');
}

function overrideReasons(sections: readonly Section[], catalogue: Catalogue): Pick<Card, 'overrideReasons'> {
  const codes = [...new Set(sections.flatMap((s) => s.rule.overrideReasons))];
  if (codes.length === 0) return {};
  return { overrideReasons: codes.map((code) => ({ system: catalogue.overrideReasonSystem, code, display: catalogue.overrideReasons[code] ?? code })) };
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

interface CardOptions {
  order?: GlutamineOrder;
  /** For a card that is not one rule's: its own topic (order-notes). */
  topic?: { code: string; display: string };
  /** The summary when sections are several (order-notes). */
  summary?: string;
  /** The order reference(s) the card is about, for the extension when there is no checked order. */
  about?: string;
}

/**
 * One card from one or more sections, the most urgent first: its summary, indicator, source and
 * topic are the first section's; its detail carries every section; its delete suggestion is there
 * only when some section advises removal (revision 2, items 23-26).
 */
function card(sections: readonly Section[], options: CardOptions, ctx: CardContext): Card {
  const [main, ...rest] = sections as [Section, ...Section[]];
  const several = ctx.orders.length > 1 && options.order !== undefined;
  const summary = options.summary && rest.length > 0 ? options.summary : main.text.summary;
  const detailParts = [sectionText(main, rest.length > 0 && options.topic !== undefined), ...rest.map((s) => sectionText(s, true))];
  if (several && options.order) detailParts.push(`Order checked: ${escapeMarkdown(options.order.name)}.`);
  const removes = options.order !== undefined && sections.some((s) => s.removes);
  if (removes && ctx.signedOrder) detailParts.push(ctx.catalogue.signedOrderAdvice);
  const labels = [...new Set(sections.map((s) => ctx.catalogue.sources[s.rule.source]?.label ?? s.rule.source))];
  const topic = options.topic ?? { code: main.rule.id, display: main.rule.title };
  return {
    uuid: ctx.newId(),
    summary: truncate(several && options.order ? `${summary} — ${options.order.name}` : summary, 139),
    indicator: main.indicator,
    // No "Source: …" line: source.label names it and EHRs show it (revision 2, item 28).
    detail: detailParts.join('\n\n'),
    source: {
      label: labels.join('; '),
      url: `${ctx.publicUrl}/rules${options.topic ? '' : `/${main.rule.id}`}`,
      topic: { system: ctx.catalogue.ruleCodeSystem, ...topic },
    },
    ...(options.order && removes && !ctx.signedOrder ? removeOrder(options.order, ctx) : {}),
    ...overrideReasons(sections, ctx.catalogue),
    extension: {
      [FINDINGS_EXTENSION]: sections.map((s) => ({ rule: s.rule.id, indicator: s.indicator })),
      [ORDER_EXTENSION]: options.order ? (options.order.reference ?? options.order.name) : (options.about ?? 'unknown'),
    },
  };
}

function byUrgency(catalogue: Catalogue): (a: Section, b: Section) => number {
  const ruleOrder = new Map(catalogue.rules.map((r, i) => [r.id, i]));
  return (a, b) => URGENCY[a.indicator] - URGENCY[b.indicator] || (ruleOrder.get(a.rule.id) ?? 0) - (ruleOrder.get(b.rule.id) ?? 0);
}

/** The cards for one glutamine order: one per card group, one per other warning or critical rule, one for all info. */
function orderCards(order: GlutamineOrder, sections: Section[], ctx: CardContext): Card[] {
  const cards: Card[] = [];
  const notes = sections.filter((s) => s.indicator === 'info');
  const alerts = sections.filter((s) => s.indicator !== 'info');
  for (const group of ctx.catalogue.cardGroups) {
    const inGroup = alerts.filter((s) => group.rules.includes(s.rule.id));
    if (inGroup.length > 0) cards.push(card(inGroup, { order }, ctx));
  }
  const grouped = new Set(ctx.catalogue.cardGroups.flatMap((g) => g.rules));
  for (const section of alerts.filter((s) => !grouped.has(s.rule.id))) cards.push(card([section], { order }, ctx));
  if (notes.length > 0) {
    const { code, display, summary } = ctx.catalogue.orderNotes;
    cards.push(card(notes, { order, topic: { code, display }, summary: `${summary} (${notes.length})` }, ctx));
  }
  return cards;
}

/**
 * Findings and data gaps → cards (revision 2, items 23-26): per glutamine order, the findings of a
 * card group (liver, ammonia, lactulose) are one card at the highest indicator, every other warning
 * or critical rule one card, and all info findings one "Other points" card; the data gaps join the
 * first order's. Most urgent first (critical, warning, info), then catalogue order.
 */
export function buildCards(findings: readonly Finding[], gaps: readonly DataGap[], ctx: CardContext, unreadable: readonly UnreadableOrder[] = []): Card[] {
  const sort = byUrgency(ctx.catalogue);
  const cards: Card[] = [];
  ctx.orders.forEach((order, i) => {
    const sections = findings
      .filter((f) => f.orderReference === (order.reference ?? order.name))
      .map((f) => findingSection(f, ctx.catalogue))
      .filter((s): s is Section => s !== undefined);
    const gapSection = i === 0 ? gapsSection(gaps, ctx.catalogue) : undefined;
    if (gapSection) sections.push(gapSection);
    cards.push(...orderCards(order, sections.sort(sort), ctx));
  });
  const unreadableOrders = unreadableSection(unreadable, ctx.catalogue);
  if (unreadableOrders) cards.push(card([unreadableOrders], { about: unreadable.map((u) => u.order).join(', ') }, ctx));
  // Stable: within one indicator, orders and rules keep their order.
  return cards
    .map((c, i) => ({ c, i }))
    .sort((a, b) => URGENCY[a.c.indicator] - URGENCY[b.c.indicator] || a.i - b.i)
    .map(({ c }) => c);
}
