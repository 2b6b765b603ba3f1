// Replays rendered trees and diffs through the official LiveView client's merge.
//
// Usage: node replay.mjs <rendered.cjs>, where rendered.cjs is an esbuild
// bundle of phoenix_live_view's own assets/js/phoenix_live_view/rendered.js.
// Reads one case per stdin line, {"join": tree, "diffs": [diff...], "fulls"?:
// [tree...], "prunes"?: [[cid...]...]}, and answers each with one stdout
// line, {"html": [...], "fulls": [...] | null, "streams": [...], "error":
// string | null}: the HTML after the join and after each diff, merged exactly
// as the browser would (extract, then mergeDiff, then toString; before diff
// i, pruneCIDs(prunes[i]), as after a cids_destroyed reply), the stream
// operations each of those renders hands the DOM patch, and the HTML of a
// fresh client built from each full tree.
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

// The client clones with window.structuredClone and reports diagnostics as
// window events; Node has neither a window nor a global dispatchEvent.
const browserWindow = new EventTarget();
browserWindow.structuredClone = structuredClone;
globalThis.window = browserWindow;

const Rendered = createRequire(import.meta.url)(process.argv[2]).default;

const render = (rendered) => rendered.toString().buffer;

const fresh = (tree) => render(new Rendered("phx-test", Rendered.extract(tree).diff));

function replay({ join, diffs = [], fulls, prunes = [] }) {
  const result = { html: [], fulls: null, streams: [], error: null };
  const step = (rendered) => {
    const { buffer, streams } = rendered.toString();
    result.html.push(buffer);
    result.streams.push([...streams]);
  };
  try {
    const rendered = new Rendered("phx-test", Rendered.extract(join).diff);
    step(rendered);
    for (const [i, diff] of diffs.entries()) {
      rendered.pruneCIDs(prunes[i] ?? []);
      rendered.mergeDiff(Rendered.extract(diff).diff);
      step(rendered);
    }
  } catch (err) {
    result.error = `step ${result.html.length}: ${err.stack || err}`;
  }
  if (fulls) {
    result.fulls = fulls.map((tree, step) => {
      try {
        return fresh(tree);
      } catch (err) {
        result.error ??= `full ${step}: ${err.stack || err}`;
        return null;
      }
    });
  }
  return result;
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim()) {
    process.stdout.write(JSON.stringify(replay(JSON.parse(line))) + "\n");
  }
}
