import { test, expect, Page, Browser } from "@playwright/test";
import { logIn, watchForProblems, waitForHydration } from "./helpers";

// A training policy drives two rounds on the tiny local model `e2e-tiny`: simulated annotators'
// votes on "E2E loop" start each round, the server's worker trains the child, two arena battles
// of the child against its parent reach the gate's cap (2 decided battles, where no record can
// clear the 95% bar), and the lineage page shows both generations.

/** `n` votes on "E2E loop" by a fresh anonymous annotator, always for the left response. */
async function vote(browser: Browser, n: number) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`/annotate?pid=E2E-LOOP-${Date.now()}`);
  await page.getByRole("link", { name: "E2E loop" }).click();
  await waitForHydration(page);
  for (let k = 0; k < n; k++) {
    await expect(page.getByRole("button", { name: /A is better/ })).toBeEnabled();
    await page.keyboard.press("1");
    await expect(page.getByRole("status")).toContainText("Vote recorded");
    await page.keyboard.press("n");
  }
  await context.close();
}

/** One arena battle by a fresh annotator, voting for response A. */
async function battle(browser: Browser, k: number) {
  const context = await browser.newContext();
  const arena = await context.newPage();
  await arena.goto(`/arena?pid=E2E-LOOP-ARENA-${Date.now()}-${k}`);
  await waitForHydration(arena);
  await arena.getByLabel("Your prompt").fill(`Loop battle ${k}?`);
  await arena.getByLabel("Your prompt").press("Enter");
  await expect(arena.getByRole("button", { name: /A is better/ })).toBeEnabled({ timeout: 30_000 });
  await arena.keyboard.press("1");
  await expect(arena.getByRole("status").filter({ hasText: "Vote recorded" })).toBeVisible();
  await expect(arena.getByLabel("Response A").locator(".reveal")).toContainText(/e2e-(tiny|loop)/);
  await context.close();
}

/** Waits until the lineage page (which polls) lists round `round` with `status`. */
async function roundIs(page: Page, round: number, status: RegExp) {
  const row = page.getByRole("table", { name: "Rounds" }).locator("tbody tr").nth(round - 1);
  await expect(row.locator("td").last()).toHaveText(status, { timeout: 120_000 });
}

test("a training policy starts rounds on new votes, its gate decides, and the lineage shows both generations", async ({ page, browser }) => {
  test.setTimeout(300_000);
  const problems = watchForProblems(page);
  await logIn(page);
  await page.goto("/policies");
  await waitForHydration(page);
  const form = page.getByRole("form", { name: "New training policy" });
  await form.getByLabel("Name").fill("e2e-loop");
  await form.getByLabel("Project").fill("E2E loop");
  await form.getByLabel("Base model").fill("e2e-tiny");
  await form.getByLabel("New votes that start a round").fill("2");
  await form.getByLabel("Gate: decided battles before deciding").fill("2");
  await form.getByLabel("Gate: decided battles at most").fill("2");
  await form.getByRole("button", { name: "Create" }).click();
  await expect(page.getByRole("status").filter({ hasText: /Policy #\d+ created/ })).toBeVisible();
  await page.getByRole("link", { name: "Its lineage" }).click();
  await expect(page.getByRole("heading", { name: "Policy: e2e-loop" })).toBeVisible();
  await expect(page.getByText("No round yet")).toBeVisible();

  for (const round of [1, 2]) {
    // New votes start the round; the worker trains; the child goes to the gate.
    await vote(browser, 2);
    await roundIs(page, round, /^gating/);
    // Two decided battles of the child against its parent: the cap, so the gate retires it.
    await battle(browser, 2 * round - 1);
    await battle(browser, 2 * round);
    await roundIs(page, round, /^retired: e2e-loop-r\d .*after 2 decided battles/);
  }

  // The lineage: the base as champion, two retired children, each a link to its run.
  const tree = page.getByRole("img", { name: /Lineage of e2e-loop/ });
  await expect(tree).toHaveAttribute("aria-label", /round 1 e2e-tiny → e2e-loop-r1 retired; round 2 e2e-tiny → e2e-loop-r2 retired/);
  await expect(tree.locator("rect")).toHaveCount(3);
  await expect(tree.locator("text").filter({ hasText: /^e2e-loop-r2$/ })).toBeVisible();
  const node = page.getByRole("link", { name: /^e2e-loop-r1: run #\d+$/ });
  await expect(node).toBeVisible();
  await expect(node).toHaveAttribute("href", /\/training\/\d+/);
  await expect(page.getByRole("table", { name: "Rounds" }).getByRole("link").first()).toHaveAttribute("href", /\/training\/\d+/);
  await page.screenshot({ path: "test-results/lineage.png", fullPage: true });
  await page.goto("/policies");
  await expect(page.getByRole("table", { name: "Training policies" }).getByRole("row", { name: /e2e-loop/ })).toContainText("e2e-tiny");
  expect(problems).toEqual([]);
});
