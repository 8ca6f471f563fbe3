// Shared by the scenario scripts: the AI SDK's OpenAI provider pointed at the gateway that the
// pytest test started (HERMES_BASE_URL, HERMES_API_KEY), and one JSON result line on stdout.
import { createOpenAI } from "@ai-sdk/openai";

export const MODEL = "alice";

// `api` is the first argument: "responses" (the provider's default) or "chat".
export function model(api = process.argv[2]) {
  const openai = createOpenAI({
    baseURL: process.env.HERMES_BASE_URL,
    apiKey: process.env.HERMES_API_KEY,
  });
  if (api === "responses") return openai.responses(MODEL);
  if (api === "chat") return openai.chat(MODEL);
  throw new Error(`unknown api ${api}: responses or chat`);
}

// Every tool call of every step: who ran it (providerExecuted: the server) and what it was.
export function toolCalls(steps) {
  return steps.flatMap((step) =>
    step.toolCalls.map((call) => ({
      toolName: call.toolName,
      providerExecuted: call.providerExecuted ?? false,
    })),
  );
}

export function print(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
}

// A scenario's failure is reported as JSON too, so the test shows the SDK's own message.
export async function run(scenario) {
  try {
    print(await scenario());
  } catch (error) {
    print({ error: `${error?.name}: ${error?.message}`, cause: String(error?.cause ?? "") });
    process.exitCode = 1;
  }
}
