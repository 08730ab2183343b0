/**
 * CKD-EPI 2021 creatinine equation, without a race term (docs/clinical-spec.md "Units"; Inker et al.,
 * NEJM 2021): eGFR = 142 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^−1.200 × 0.9938^age × 1.012 [female],
 * κ = 0.7 (F) / 0.9 (M), α = −0.241 (F) / −0.302 (M), Scr in mg/dL, age in years.
 */
export type Sex = 'female' | 'male';

export function ckdEpi2021(creatinineMgDl: number, ageYears: number, sex: Sex): number {
  const kappa = sex === 'female' ? 0.7 : 0.9;
  const alpha = sex === 'female' ? -0.241 : -0.302;
  const ratio = creatinineMgDl / kappa;
  const egfr = 142 * Math.min(ratio, 1) ** alpha * Math.max(ratio, 1) ** -1.2 * 0.9938 ** ageYears;
  return sex === 'female' ? egfr * 1.012 : egfr;
}

/** Whole years between a birth date and a moment (both epoch ms). */
export function ageInYears(birth: number, at: number): number {
  const b = new Date(birth);
  const d = new Date(at);
  let years = d.getUTCFullYear() - b.getUTCFullYear();
  if (d.getUTCMonth() < b.getUTCMonth() || (d.getUTCMonth() === b.getUTCMonth() && d.getUTCDate() < b.getUTCDate())) years -= 1;
  return years;
}
