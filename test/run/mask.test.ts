import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { CONCEALED, SecretMasker } from "../../src/run/mask.js";

/** Pushes `chunks` through a masker and returns what came out. */
async function masked(secrets: string[], chunks: string[]): Promise<string> {
  const masker = new SecretMasker(secrets);
  const source = new PassThrough();
  let out = "";
  masker.on("data", (c: Buffer) => (out += c.toString("utf8")));
  const done = new Promise((r) => masker.on("end", r));
  source.pipe(masker);
  for (const chunk of chunks) source.write(Buffer.from(chunk, "utf8"));
  source.end();
  await done;
  return out;
}

describe("SecretMasker", () => {
  const secret = "sk-CANARY-0123456789";
  const text = `key=${secret} and again ${secret}.\n`;
  const expected = `key=${CONCEALED} and again ${CONCEALED}.\n`;

  it("conceals a secret split at every possible chunk boundary", async () => {
    for (let cut = 0; cut <= text.length; cut++) {
      expect(await masked([secret], [text.slice(0, cut), text.slice(cut)])).toBe(expected);
    }
  });

  it("conceals a secret written one byte at a time", async () => {
    expect(await masked([secret], [...text])).toBe(expected);
  });

  it("conceals several secrets, the longer one whole when one contains the other", async () => {
    const short = "TOKEN123456";
    const long = "xxTOKEN123456yy";
    expect(await masked([short, long], [`a ${long} b ${short} c`])).toBe(`a ${CONCEALED} b ${CONCEALED} c`);
  });

  it("lets through a tail that only began like a secret, at the end and mid-stream", async () => {
    expect(await masked([secret], ["ends with sk-CAN"])).toBe("ends with sk-CAN");
    expect(await masked([secret], ["sk-CAN", "DY is not it"])).toBe("sk-CANDY is not it");
  });

  it("keeps binary output byte for byte", async () => {
    const masker = new SecretMasker([secret]);
    const bytes = Buffer.from([0, 255, 1, 254, 0x73, 0x6b]);
    const out: Buffer[] = [];
    masker.on("data", (c: Buffer) => out.push(c));
    masker.end(bytes);
    await new Promise((r) => masker.on("end", r));
    expect(Buffer.concat(out).equals(bytes)).toBe(true);
  });
});
