export declare function filler(seed: number, gen: number, label: string, length: number): string;
export declare function apiKeyFor(seed: number, gen: number): string;
export declare function oauthFor(
  seed: number,
  gen: number,
  provider: string,
): { type: "oauth"; provider: string; files: Record<string, string>; accessToken: string; refreshToken: string };
export declare function genOf(value: string): number;
