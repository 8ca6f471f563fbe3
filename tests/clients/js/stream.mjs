// A streamed server-tool turn (the gateway sends tool progress as events): the text deltas
// must add up to the answer, and no part of the stream may be an error.
import { stepCountIs, streamText } from "ai";
import { model, run, toolCalls } from "./common.mjs";

await run(async () => {
  const result = streamText({
    model: model(),
    prompt: process.env.HERMES_PROMPT,
    stopWhen: stepCountIs(3),
  });
  const deltas = [];
  const errors = [];
  for await (const part of result.fullStream) {
    if (part.type === "text-delta") deltas.push(part.text);
    if (part.type === "error") errors.push(String(part.error?.message ?? part.error));
  }
  const steps = await result.steps;
  return {
    text: await result.text,
    deltas: deltas.join(""),
    errors,
    steps: steps.length,
    toolCalls: toolCalls(steps),
  };
});
