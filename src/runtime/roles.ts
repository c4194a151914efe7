// The daemon's roles, what each one runs, and the one-line error a failed start ends in.

/**
 * all: everything, with execution, the position loop and the jobs in their own thread (src/runtime/execution-host.ts).
 * api: the webhook and the admin API only. worker: executes queued signals and watches positions (reconciliation,
 * the position loop, the kill switch, the jobs). monitor: watches positions only, for a deployment that runs its
 * workers apart. Every role that watches positions reconciles at start.
 */
export type Role = 'all' | 'api' | 'worker' | 'monitor';
export const ROLES: readonly Role[] = ['all', 'api', 'worker', 'monitor'];

export const servesHttp = (role: Role) => role === 'all' || role === 'api';
export const executes = (role: Role) => role === 'all' || role === 'worker';
export const watches = (role: Role) => role !== 'api';

/** A start-up failure worth one clear line to the user, not a stack trace. */
export class StartupError extends Error {}
