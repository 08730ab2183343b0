import type { Response } from 'express';

/** Facts about a request that the access log records: ids and outcomes, never patient data. */
export interface RequestState {
  requestId: string;
  serviceId?: string;
  hookInstance?: string;
  ruleIds?: string[];
  errorCode?: string;
}

export function requestState(res: Response): RequestState {
  const locals = res.locals as { state?: RequestState };
  locals.state ??= { requestId: 'unknown' };
  return locals.state;
}
