// Types of log-tap.mjs (plain JavaScript so that NODE_OPTIONS can preload it in any process or thread).
export declare function tapLine(text: string | Uint8Array): void;
export declare function tapStandardStreams(): void;
