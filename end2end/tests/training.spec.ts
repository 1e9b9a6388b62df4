import { test, expect } from "@playwright/test";
import { logIn, logInWithoutHydration, watchForProblems, waitForHydration } from "./helpers";

// The loop: votes → a DPO run launched from the UI → live progress → the new model enters the
// arena and meets its parent. Uses the tiny local model `e2e-tiny` and the "E2E training"
// project that the test command seeds.
test("an admin trains a model on votes, watches it finish and battles it against its parent", async ({ page, browser }) => {
  test.setTimeout(180_000);
  const problems = watchForProblems(page);
  await logIn(page);
  await page.goto("/training");
  await waitForHydration(page);
  const form = page.getByRole("form", { name: "Launch a training run" });
  await form.getByLabel("Base model").selectOption({ label: "e2e-tiny" });
  await form.getByLabel(/E2E training/).check();
  await form.getByLabel("Epochs").fill("2");
  await form.getByLabel("Batch size").fill("2");
  await form.getByLabel("Max length").fill("96");

  // Preview: 8 items, each with a majority for one answer, from 24 votes.
  await form.getByRole("button", { name: "Preview" }).click();
  const preview = page.getByRole("status").filter({ hasText: "preference pairs" });
  await expect(preview).toContainText("8 preference pairs");
  await expect(preview).toContainText("from 24 votes");
  await expect(page.getByRole("table", { name: "Example pairs" })).toContainText("writer-x — A careful, complete answer.");

  await form.getByRole("button", { name: "Launch" }).click();
  await expect(page).toHaveURL(/\/training\/\d+$/);
  const runId = page.url().split("/").pop();
  await expect(page.getByRole("heading", { name: `Training run #${runId}` })).toBeVisible();
  await expect(page.getByText("8 pairs from 24 votes")).toBeVisible();

  // The page polls: the bar reaches 100% and the run succeeds (8 steps: 8 pairs, batch 2,
  // 2 epochs), with curves drawn from the stored metrics.
  const bar = page.getByRole("progressbar", { name: "Training progress" });
  await expect(bar).toHaveAttribute("aria-valuenow", "100", { timeout: 120_000 });
  await expect(page.locator(".status-succeeded")).toBeVisible();
  await expect(page.getByText("100% · step 8 of 8")).toBeVisible();
  await expect(page.getByRole("img", { name: /^Loss: 8 steps/ })).toBeVisible();
  await expect(page.getByRole("img", { name: /^Reward accuracy: 8 steps/ })).toBeVisible();
  await page.screenshot({ path: "test-results/training-run.png", fullPage: true });

  // A reload shows the same finished run (everything comes from the database).
  await page.reload();
  await waitForHydration(page);
  await expect(bar).toHaveAttribute("aria-valuenow", "100");
  const child = `e2e-tiny-dpo-${runId}`;
  await expect(page.getByText(`${child} (trained from e2e-tiny) is not in the arena yet.`)).toBeVisible();
  await page.getByRole("button", { name: "Enable in the arena" }).click();
  await expect(page.getByText(`${child} (trained from e2e-tiny) is in the arena.`)).toBeVisible();
  expect(problems).toEqual([]);

  // An annotator's next battle is the child against its parent.
  const annotator = await browser.newContext();
  const arena = await annotator.newPage();
  const arenaProblems = watchForProblems(arena);
  await arena.goto(`/arena?pid=E2E-TRAINED-${runId}`);
  await waitForHydration(arena);
  await arena.getByLabel("Your prompt").fill("Say something.");
  await arena.getByLabel("Your prompt").press("Enter");
  const voteA = arena.getByRole("button", { name: /A is better/ });
  await expect(voteA).toBeEnabled({ timeout: 60_000 });
  await arena.keyboard.press("3");
  await expect(arena.getByRole("status").filter({ hasText: "Vote recorded" })).toBeVisible();
  const revealed = [
    (await arena.getByLabel("Response A").locator(".reveal").textContent()) ?? "",
    (await arena.getByLabel("Response B").locator(".reveal").textContent()) ?? "",
  ].sort();
  expect(revealed).toEqual([" · e2e-tiny", ` · ${child}`].sort());
  expect(arenaProblems).toEqual([]);
  await annotator.close();

  // The run list shows it finished with its model.
  await page.goto("/training");
  const row = page.getByRole("row", { name: new RegExp(`#${runId} succeeded`) });
  await expect(row).toContainText(child);
  await expect(row).toContainText("100%");
});

// With no project ticked the form means "every pairwise project" (it once answered "missing
// field projects"). The preview counts the votes of every pairwise project the tests seeded.
test("a preview with no project ticked covers every pairwise project", async ({ page }) => {
  const problems = watchForProblems(page);
  await logIn(page);
  await page.goto("/training");
  await waitForHydration(page);
  const form = page.getByRole("form", { name: "Launch a training run" });
  await form.getByLabel("Base model").selectOption({ label: "e2e-tiny" });
  await expect(form.getByRole("checkbox", { checked: true, name: /votes\)$/ })).toHaveCount(0);
  await form.getByRole("button", { name: "Preview" }).click();
  const preview = page.getByRole("status").filter({ hasText: "preference pairs" });
  await expect(preview).toContainText(/\d+ preference pairs from \d+ votes/);
  await expect(page.getByRole("alert")).toHaveCount(0);
  expect(problems).toEqual([]);
});

test("the preview works without JavaScript, and a launch then asks for it", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await logInWithoutHydration(page);
  await page.goto("/training");
  const form = page.getByRole("form", { name: "Launch a training run" });
  await form.getByLabel("Base model").selectOption({ label: "e2e-tiny" });
  await form.getByLabel("Max steps").fill("3");
  await form.getByRole("button", { name: "Preview" }).click();
  await expect(page).toHaveURL(/\/training\?.*do=preview/);
  await expect(page.getByRole("status").filter({ hasText: "preference pairs" }))
    .toContainText(/\d+ preference pairs from \d+ votes/);
  // The form keeps what was sent.
  await expect(form.getByLabel("Max steps")).toHaveValue("3");
  await expect(form.getByLabel("Base model").locator("option:checked")).toHaveText("e2e-tiny");
  await form.getByRole("button", { name: "Launch" }).click();
  await expect(page.getByText("Launching needs JavaScript")).toBeVisible();
  await context.close();
});
