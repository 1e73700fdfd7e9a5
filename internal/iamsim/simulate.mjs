// Reads a JSON array of simulations on stdin, runs each through
// @cloud-copilot/iam-simulate, and prints a JSON array of results. The
// package's entry is passed as argv[1] (a file URL): an ES module's bare
// imports resolve from the script's own location, which is not the repo.
const entry = process.argv[1];
const { runSimulation } = await import(entry);

let input = "";
for await (const chunk of process.stdin) input += chunk;
const sims = JSON.parse(input);
const out = [];
for (const sim of sims) {
  try {
    const r = await runSimulation(sim, {});
    if (r.resultType === "error") {
      out.push({ error: JSON.stringify(r.errors) });
      continue;
    }
    const ignored = r.resultType === "single"
      ? (r.result.ignoredContextKeys ?? [])
      : r.results.flatMap((x) => x.ignoredContextKeys ?? []);
    out.push({ answer: r.overallResult, ignoredContextKeys: ignored });
  } catch (e) {
    out.push({ error: String(e && e.stack || e) });
  }
}
process.stdout.write(JSON.stringify(out));
