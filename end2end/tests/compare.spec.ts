import { test, expect } from "@playwright/test";
import { watchForProblems, waitForHydration } from "./helpers";

test("an annotator judges pairs with the keyboard, sees the reveal and moves on", async ({ page }) => {
  const problems = watchForProblems(page);
  page.on("dialog", (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  await page.goto(`/annotate?pid=E2E-COMPARE-${Date.now()}`);
  await page.getByRole("link", { name: "E2E pairs" }).click();
  await expect(page.getByRole("heading", { name: "Which response is better?" })).toBeVisible();
  await expect(page.getByLabel("Progress")).toHaveText("0 of 2 judged");
  await waitForHydration(page);

  // Markup in model text is shown as text and never runs; one of the two items carries it.
  let sawMarkup = false;
  const checkMarkup = async () => {
    const texts = (await page.locator(".pane").allInnerTexts()).join("\n");
    if (texts.includes("Green")) {
      sawMarkup = true;
      expect(texts).toContain('<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">');
    }
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  };
  await checkMarkup();

  await page.keyboard.press("1");
  const status = page.getByRole("status");
  await expect(status).toContainText("Vote recorded");
  const revealA = page.getByLabel("Response A").locator(".reveal");
  await expect(revealA).toHaveText(/writer-(x|y)/);
  await expect(page.getByRole("button", { name: /A is better/ })).toBeDisabled();
  await page.screenshot({ path: "test-results/compare.png", fullPage: true });

  await page.keyboard.press("n");
  await expect(page.getByLabel("Progress")).toHaveText("1 of 2 judged");
  await expect(page.getByRole("button", { name: /B is better/ })).toBeEnabled();
  await checkMarkup();
  expect(sawMarkup).toBe(true);
  await page.getByRole("button", { name: /B is better/ }).click();
  await expect(page.getByRole("status")).toContainText("Vote recorded");
  await page.getByRole("button", { name: "Next (n)" }).click();
  await expect(page.getByRole("heading", { name: "All done" })).toBeVisible();
  expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  expect(problems).toEqual([]);
});

test("voting works before hydration too", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`/annotate?pid=E2E-NOJS-${Date.now()}`);
  await page.getByRole("link", { name: "E2E pairs" }).click();
  await expect(page.getByRole("heading", { name: "Which response is better?" })).toBeVisible();
  await page.getByRole("button", { name: /Tie/ }).click();
  // Without JavaScript the form posts and the page comes back with the next item.
  await expect(page.getByLabel("Progress")).toHaveText("1 of 2 judged");
  await context.close();
});
