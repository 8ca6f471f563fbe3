// A server-tool turn: hermes runs its own `read_file`; the SDK must not try to run it.
import { generateText, stepCountIs } from "ai";
import { model, run, toolCalls } from "./common.mjs";

await run(async () => {
  const result = await generateText({
    model: model(),
    prompt: process.env.HERMES_PROMPT,
    stopWhen: stepCountIs(3),
  });
  return { text: result.text, steps: result.steps.length, toolCalls: toolCalls(result.steps) };
});
