import { test, expect } from "@playwright/test";
import { logIn, watchForProblems, waitForHydration } from "./helpers";

// An LLM judge from the admin page: the tiny local model `e2e-tiny` judges two items of the
// seeded "E2E training" project in both orders. Its verdicts are noise (it rarely names one);
// the point is the path: queued from the form, run by the server's worker, progress shown.
test("an admin has a local model judge a project and watches the job finish", async ({ page }) => {
  test.setTimeout(150_000);
  const problems = watchForProblems(page);
  await logIn(page);
  await page.goto("/admin");
  await waitForHydration(page);
  const form = page.getByRole("form", { name: "Judge a project" });
  await form.getByLabel("Project").selectOption({ label: "E2E training" });
  await form.getByLabel("Judge").selectOption({ label: "e2e-tiny" });
  await form.getByLabel("Orders").selectOption("both");
  await form.getByLabel("Items at most").fill("2");
  await form.getByRole("button", { name: "Queue" }).click();
  await expect(page.getByRole("status").filter({ hasText: /Judge job #\d+ queued\./ })).toBeVisible();

  // The card polls while the job runs; it ends done with both items judged in both orders.
  const job = page.getByRole("table", { name: "Judge jobs" }).locator("tbody tr").first();
  await expect(job).toContainText("e2e-tiny");
  await expect(job).toContainText("done", { timeout: 120_000 });
  await expect(job).toContainText("2 / 8");
  await expect(job.getByRole("button", { name: "Cancel" })).toHaveCount(0);

  // The project's quality page audits the judge: its two items, four verdicts.
  await page.goto("/data");
  await page.getByRole("link", { name: "E2E training", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Quality: E2E training" })).toBeVisible();
  const audit = page.getByRole("table", { name: "Pairwise judges" });
  const overall = audit.locator("tbody tr").filter({ hasText: "e2e-tiny" }).first();
  await expect(overall).toContainText("pairwise-verdict v1");
  await expect(overall.locator("td").nth(3)).toHaveText("2");
  await expect(overall.locator("td").nth(4)).toHaveText("4");
  expect(problems).toEqual([]);
});
