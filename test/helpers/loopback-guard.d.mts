// Types of loopback-guard.mjs (plain JavaScript so that NODE_OPTIONS can preload it in any process or thread).
export declare function isLoopbackHost(host: string): boolean;
export declare function connectTarget(args: unknown[]): string | undefined;
