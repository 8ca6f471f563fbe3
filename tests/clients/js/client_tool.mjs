// A client-tool turn: the SDK defines `get_weather`, the model calls it, hermes ends its turn
// with the call, the SDK runs the tool itself and sends the result back for the answer.
import { generateText, stepCountIs, tool } from "ai";
import { z } from "zod";
import { model, run, toolCalls } from "./common.mjs";

await run(async () => {
  const ran = [];
  const get_weather = tool({
    description: "The current weather in a city.",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      ran.push(city);
      return city === "Paris" ? `${city}: sunny-21C` : `${city}: unknown`;
    },
  });
  const result = await generateText({
    model: model(),
    prompt: process.env.HERMES_PROMPT,
    tools: { get_weather },
    stopWhen: stepCountIs(4),
  });
  return { text: result.text, steps: result.steps.length, toolCalls: toolCalls(result.steps), ran };
});
