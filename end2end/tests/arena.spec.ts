import { test, expect } from "@playwright/test";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { expectPhoneLayout, logIn, watchForProblems, waitForHydration } from "./helpers";

// A fake OpenAI-compatible endpoint on loopback: it streams its answer in pieces, slowly
// enough that the panes fill while the vote buttons stay disabled.
let endpoint: http.Server;
let baseUrl = "";

test.beforeAll(async () => {
  endpoint = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", async () => {
      const request = JSON.parse(body);
      const prompt: string = request.messages[0].content;
      res.writeHead(200, { "content-type": "text/event-stream" });
      const pieces = [`**${request.model}** says: `, "here is ", `my answer to "${prompt}".`];
      for (const p of pieces) {
        res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: p } }] })}\n\n`);
        await new Promise((r) => setTimeout(r, 300));
      }
      res.end("data: [DONE]\n\n");
    });
  });
  await new Promise<void>((r) => endpoint.listen(0, "127.0.0.1", r));
  baseUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/v1`;
});

test.afterAll(async () => {
  await new Promise((r) => endpoint.close(r));
});

test("an annotator battles two streamed models, votes by keyboard and sees who they were", async ({ page, browser }) => {
  const problems = watchForProblems(page);
  await logIn(page);
  await page.goto("/admin");
  await waitForHydration(page);
  const stamp = Date.now();
  const add = page.getByRole("form", { name: "Add an OpenAI-compatible model" });
  for (const remote of ["one", "two"]) {
    await add.getByLabel("Name").fill(`e2e-fake-${remote}-${stamp}`);
    await add.getByLabel("Base URL").fill(baseUrl);
    await add.getByLabel("Remote model").fill(remote);
    await add.getByRole("button", { name: "Add" }).click();
    await expect(page.getByRole("cell", { name: `e2e-fake-${remote}-${stamp}`, exact: true })).toBeVisible();
  }
  expect(problems).toEqual([]);

  const annotator = await browser.newContext();
  const arena = await annotator.newPage();
  const arenaProblems = watchForProblems(arena);
  await arena.goto(`/arena?pid=E2E-ARENA-${stamp}`);
  await waitForHydration(arena);
  await arena.getByLabel("Your prompt").fill("Why is the sky blue?");
  await arena.getByLabel("Your prompt").press("Enter");
  const paneA = arena.getByLabel("Response A");
  const paneB = arena.getByLabel("Response B");
  const voteA = arena.getByRole("button", { name: /A is better/ });
  // While the answers stream, the vote waits.
  await expect(paneA).toContainText("says:");
  await expect(voteA).toBeDisabled();
  await expect(paneA).toContainText('my answer to "Why is the sky blue?"');
  await expect(paneB).toContainText('my answer to "Why is the sky blue?"');
  await expect(voteA).toBeEnabled();
  // Markdown is rendered once complete.
  await expect(paneA.locator("strong")).toHaveText(/^(one|two)$/);
  await arena.screenshot({ path: "test-results/arena.png", fullPage: true });

  await arena.keyboard.press("1");
  await expect(arena.getByRole("status").filter({ hasText: "Vote recorded" })).toBeVisible();
  const shown = await paneA.locator("strong").innerText();
  await expect(paneA.locator(".reveal")).toHaveText(` · e2e-fake-${shown}-${stamp}`);
  await expect(voteA).toBeDisabled();
  await arena.keyboard.press("n");
  await expect(arena.getByLabel("Your prompt")).toHaveValue("");
  await expect(paneA).toBeHidden();
  expect(arenaProblems).toEqual([]);
  await annotator.close();
});

test("the arena is usable on a phone: a battle streams into stacked panes and takes a vote", async ({ browser }) => {
  // The models the test above added answer from the fake endpoint, still up in this file.
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const arena = await context.newPage();
  await arena.goto(`/arena?pid=E2E-ARENA-PHONE-${Date.now()}`);
  await waitForHydration(arena);
  await arena.getByLabel("Your prompt").fill("Is it usable on a phone?");
  await arena.getByLabel("Your prompt").press("Enter");
  const panes = [arena.getByLabel("Response A"), arena.getByLabel("Response B")];
  for (const pane of panes) await expect(pane).toContainText('my answer to "Is it usable on a phone?"');
  const voteA = arena.getByRole("button", { name: /A is better/ });
  await expect(voteA).toBeEnabled();
  await expectPhoneLayout(arena, panes, (i) => ["A", "B"][i], "arena-phone.png");
  await voteA.click();
  await expect(arena.getByRole("status").filter({ hasText: "Vote recorded" })).toBeVisible();
  await context.close();
});
