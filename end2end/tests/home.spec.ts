import { test, expect } from "@playwright/test";
import { watchForProblems, waitForHydration } from "./helpers";

test("the home page is rendered on the server and hydrates", async ({ page }) => {
  const problems = watchForProblems(page);
  await page.goto("/");
  await expect(page).toHaveTitle("Verdict");
  await expect(page.getByRole("heading", { name: "Learn from human preferences" })).toBeVisible();
  const nav = page.getByRole("navigation", { name: "Main" });
  for (const name of ["Arena", "Annotate", "Leaderboard", "Admin"]) {
    await expect(nav.getByRole("link", { name })).toBeVisible();
  }
  await waitForHydration(page);
  const toggle = page.getByRole("button", { name: "Show keyboard shortcuts" });
  await toggle.click();
  await expect(page.getByRole("table", { name: "Keyboard shortcuts" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Hide keyboard shortcuts" })).toBeVisible();
  await page.screenshot({ path: "test-results/home.png", fullPage: true });
  expect(problems).toEqual([]);
});

test("without hydration the same button does nothing", async ({ browser }) => {
  // Proves that the toggle above works because the wasm bundle hydrated the page.
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Learn from human preferences" })).toBeVisible();
  await expect(page.locator("body")).not.toHaveAttribute("data-hydrated", "true");
  await page.getByRole("button", { name: "Show keyboard shortcuts" }).click();
  await expect(page.getByRole("table", { name: "Keyboard shortcuts" })).toHaveCount(0);
  await context.close();
});

test("unknown pages get the styled 404 page", async ({ page }) => {
  const res = await page.goto("/no/such/page");
  expect(res?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
});

test("the layout fits a phone", async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 375, height: 740 } });
  const page = await context.newPage();
  await page.goto("/");
  await waitForHydration(page);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width).toBeLessThanOrEqual(375);
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Leaderboard" })).toBeVisible();
  await page.screenshot({ path: "test-results/home-phone.png", fullPage: true });
  await context.close();
});
