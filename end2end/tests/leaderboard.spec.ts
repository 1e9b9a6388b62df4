import { test, expect } from "@playwright/test";
import { watchForProblems, waitForHydration } from "./helpers";

test("the leaderboard ranks models, sorts, filters and offers downloads", async ({ page }) => {
  const problems = watchForProblems(page);
  await page.goto("/leaderboard");
  await page.getByLabel("Project").selectOption({ label: "E2E arena" });
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(/project=\d+/);
  const table = page.getByRole("table", { name: "Leaderboard" });
  const firstModel = () => table.locator("tbody tr").first().locator("td").nth(1);
  await expect(firstModel()).toHaveText("alpha");
  await expect(table.locator("tbody tr")).toHaveCount(3);
  await expect(page.getByRole("table", { name: /Win fraction/ })).toBeVisible();
  await expect(page.getByText("134 votes")).toBeVisible();

  await waitForHydration(page);
  await page.getByRole("button", { name: "Votes" }).click();
  await expect(firstModel()).toHaveText("beta"); // 94 votes, the most
  await page.getByRole("button", { name: "Model" }).click();
  await expect(firstModel()).toHaveText("alpha");
  await page.getByRole("button", { name: "Rank (UB)" }).click();

  await page.getByLabel("Exclude ties").check();
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(/exclude_ties=true/);
  await expect(page.getByText("120 votes")).toBeVisible();

  const csv = await page.request.get(`/api/v1/leaderboard?format=csv&exclude_ties=true&${new URL(page.url()).searchParams.toString()}`);
  expect(csv.status()).toBe(200);
  expect((await csv.text()).split("\n")[1]).toContain("alpha");
  await page.screenshot({ path: "test-results/leaderboard.png", fullPage: true });
  expect(problems).toEqual([]);
});
