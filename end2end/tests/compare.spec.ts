import { test, expect } from "@playwright/test";
import { admin, watchForProblems, waitForHydration } from "./helpers";

test("an annotator judges pairs with the keyboard, sees the reveal and moves on", async ({ page, browser }) => {
  const problems = watchForProblems(page);
  page.on("dialog", (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  const pid = `E2E-COMPARE-${Date.now()}`;
  await page.goto(`/annotate?pid=${pid}`);
  await page.getByRole("link", { name: "E2E pairs" }).click();
  await expect(page.getByRole("heading", { name: "Which response is better?" })).toBeVisible();
  await expect(page.getByLabel("Progress")).toHaveText("0 of 2 judged");
  await waitForHydration(page);

  // The guidelines open with g and close again.
  const guidelines = page.locator("details.guidelines");
  await page.keyboard.press("g");
  await expect(guidelines).toHaveAttribute("open", "");
  await expect(guidelines).toContainText("Keys:");
  await page.keyboard.press("g");
  await expect(guidelines).not.toHaveAttribute("open", "");

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

  // Both votes are in the database with the side shown and the time measured in the browser.
  const staff = await browser.newContext();
  const login = await staff.request.post("/api/login", {
    form: { username: admin.username, password: admin.password },
  });
  expect(login.ok()).toBe(true);
  const exported = await staff.request.get("/api/v1/exports/votes?project=E2E%20pairs");
  expect(exported.ok()).toBe(true);
  const mine = (await exported.text())
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((v) => v.annotator_external_id === pid);
  expect(mine).toHaveLength(2);
  for (const v of mine) {
    expect(typeof v.a_was_left).toBe("boolean");
    expect(v.time_to_vote_ms).toBeGreaterThan(0);
    expect(v.source).toBe("human");
    expect(v.guideline_version).toBe(1);
  }
  await staff.close();
});

test("skipping gives the item back and shows the other one", async ({ page }) => {
  const problems = watchForProblems(page);
  await page.goto(`/annotate?pid=E2E-SKIP-${Date.now()}`);
  await page.getByRole("link", { name: "E2E pairs" }).click();
  await waitForHydration(page);
  const prompt = page.getByLabel("Prompt");
  const first = await prompt.innerText();
  await page.keyboard.press("s");
  await expect(prompt).not.toHaveText(first);
  await expect(page.getByLabel("Progress")).toHaveText("0 of 2 judged");
  await page.getByRole("button", { name: "Skip" }).click();
  await expect(page.getByRole("heading", { name: "All done" })).toBeVisible();
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

test("two tabs voting the same assignment at once record one vote", async ({ browser }) => {
  const pid = `E2E-TWO-TABS-${Date.now()}`;
  const context = await browser.newContext();
  const [first, second] = [await context.newPage(), await context.newPage()];
  for (const page of [first, second]) {
    await page.goto(`/annotate?pid=${pid}`);
    await page.getByRole("link", { name: "E2E pairs" }).click();
    await waitForHydration(page);
  }
  // Both tabs show the annotator's one open assignment.
  expect(await first.getByLabel("Prompt").innerText()).toBe(await second.getByLabel("Prompt").innerText());
  await Promise.all([
    first.getByRole("button", { name: /A is better/ }).click(),
    second.getByRole("button", { name: /B is better/ }).click(),
  ]);
  for (const page of [first, second]) {
    await expect(page.getByRole("status")).toContainText("Vote recorded");
  }
  await context.close();

  const staff = await browser.newContext();
  const login = await staff.request.post("/api/login", {
    form: { username: admin.username, password: admin.password },
  });
  expect(login.ok()).toBe(true);
  const exported = await staff.request.get("/api/v1/exports/votes?project=E2E%20pairs");
  const mine = (await exported.text())
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((v) => v.annotator_external_id === pid);
  expect(mine).toHaveLength(1);
  await staff.close();
});
