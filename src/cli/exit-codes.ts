/** The command line's exit codes, one meaning each, so a script can tell a typo from a critical card. */
export const EXIT = { ok: 0, failed: 1, usage: 2, critical: 3 } as const;
