// Parse sockviz's Mermaid exports with Mermaid's own parser (not part of the test suite: it
// needs Node.js and two npm packages). In a scratch folder:
//   npm install mermaid@11 jsdom
//   node /path/to/sockviz/scripts/check_mermaid.mjs run1.mmd run2.mmd ...
// Prints OK or FAIL (with Mermaid's message) per file; exits 1 if any failed.
import { JSDOM } from "jsdom";
import fs from "fs";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

let failed = 0;
for (const file of process.argv.slice(2)) {
  try {
    const result = await mermaid.parse(fs.readFileSync(file, "utf8"));
    console.log("OK", file, result.diagramType);
  } catch (error) {
    failed++;
    console.log("FAIL", file, String(error.message || error));
  }
}
process.exit(failed ? 1 : 0);
