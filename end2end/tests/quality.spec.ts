import { test, expect } from "@playwright/test";
import { logIn, watchForProblems, waitForHydration } from "./helpers";

test("the quality page flags a careless annotator, and excluding them changes the leaderboard", async ({ page }) => {
  const problems = watchForProblems(page);
  await logIn(page);
  await page.goto("/data");
  await page.getByRole("link", { name: "E2E quality" }).click();
  await waitForHydration(page);
  await expect(page.getByRole("heading", { name: "Quality: E2E quality" })).toBeVisible();
  const projectId = page.url().split("/").pop();

  // Agreement: 3 annotators × 4 items; the clicker always disagrees.
  const agreement = page.getByRole("table", { name: "Agreement" });
  await expect(agreement.getByRole("row", { name: /Pairwise choices/ })).toContainText("12");
  const clicker = page.getByRole("table", { name: "Annotators" }).getByRole("row", { name: /clicker/ });
  await expect(clicker).toContainText("⚑ gold accuracy 0% below 50%; 100% of judgements faster than 1000 ms");
  await expect(clicker).toContainText("100%"); // left picks
  const careful = page.getByRole("table", { name: "Annotators" }).getByRole("row", { name: /careful-1/ });
  // With one careful annotator and the clicker as "the others", there is no majority to
  // agree with; the clicker disagrees with the two careful ones on all four items.
  await expect(careful).toContainText("– (0 items)");
  await expect(clicker).toContainText("0% (4 items)");
  await expect(careful).toContainText("100% of 1"); // gold
  await expect(page.getByRole("img", { name: /^Agreement with the others' majority, per annotator: clicker 0%/ })).toBeVisible();
  await page.screenshot({ path: "test-results/quality.png", fullPage: true });

  const votes = async () => {
    const res = await page.request.get(`/api/v1/leaderboard?project=${projectId}`);
    expect(res.ok()).toBe(true);
    return (await res.json()).total_votes;
  };
  expect(await votes()).toBe(12);
  await clicker.getByRole("button", { name: "Exclude" }).click();
  await expect(clicker).toContainText("(excluded)");
  expect(await votes()).toBe(8);
  // The coefficients now leave the clicker out: two annotators who always agree.
  await expect(agreement.getByRole("row", { name: /Pairwise choices/ })).toContainText("8");
  await clicker.getByRole("button", { name: "Include" }).click();
  await expect(clicker).not.toContainText("(excluded)");
  expect(await votes()).toBe(12);
  expect(problems).toEqual([]);
});
