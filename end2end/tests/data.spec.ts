import { test, expect } from "@playwright/test";
import { logIn, watchForProblems, waitForHydration } from "./helpers";

test("an admin previews an upload, imports it, and makes a project of it", async ({ page }) => {
  const problems = watchForProblems(page);
  await logIn(page);
  const stamp = Date.now();
  const project = `E2E upload ${stamp}`;
  const lines = [1, 2, 3].map((k) =>
    JSON.stringify({
      id: `u${k}`,
      prompt: `Upload prompt ${stamp}-${k}?`,
      responses: [
        { model: "upload-left", text: `Left answer ${k}` },
        { model: "upload-right", text: `Right answer ${k}` },
      ],
      judgements: [{ winner: "a", annotator: "e2e-rater" }],
    }),
  );
  await page.goto("/data");
  await waitForHydration(page);
  const form = page.getByRole("form", { name: "Import" });
  await form.getByLabel("Format").selectOption("jsonl");
  await form.getByLabel("Project").fill(project);
  await form.getByLabel("File", { exact: true }).setInputFiles({
    name: "items.jsonl",
    mimeType: "application/jsonl",
    buffer: Buffer.from(lines.join("\n") + "\n"),
  });
  await page.getByRole("button", { name: "Preview" }).click();
  const status = page.getByRole("status").filter({ hasText: "Preview" });
  await expect(status).toContainText("nothing written");
  await expect(status).toContainText("3 items in the file, would add 3");
  const preview = page.getByRole("table", { name: "First records" });
  await expect(preview.getByRole("cell", { name: `Upload prompt ${stamp}-1?` })).toBeVisible();
  await expect(preview.locator("tbody tr")).toHaveCount(3);
  await page.screenshot({ path: "test-results/data-preview.png", fullPage: true });

  await page.getByRole("button", { name: "Import", exact: true }).click();
  await expect(page.getByRole("status").filter({ hasText: "Imported" })).toContainText(
    "3 items in the file, added 3; 3 judgements, added 3",
  );

  // The export table links the new project.
  await page.reload();
  await expect(page.getByRole("table", { name: "Exports" }).getByRole("cell", { name: project })).toBeVisible();

  // A second pairwise project from the same prompts, with a required rationale.
  await page.goto("/admin");
  await waitForHydration(page);
  const create = page.getByRole("form", { name: "New project" });
  await create.getByLabel("Name", { exact: true }).fill(`${project} rematch`);
  await create.getByLabel("Prompts from").selectOption({ label: project });
  await create.getByLabel(/upload-left/).check();
  await create.getByLabel(/upload-right/).check();
  await create.getByLabel("Rationale").selectOption("required");
  await create.getByLabel(/Guidelines/).fill("Prefer the **left** answer only if it is right.");
  await create.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Project created" })).toContainText("3 items");
  await expect(page.getByRole("link", { name: `${project} rematch` })).toBeVisible();

  // A rating project on the same prompts, with its own criteria and scales.
  await create.getByLabel("Name", { exact: true }).fill(`${project} rated`);
  await create.getByLabel("Prompts from").selectOption({ label: project });
  await create.getByLabel(/upload-left/).check();
  await create.getByLabel(/upload-right/).check();
  await create.getByRole("combobox", { name: "Protocol" }).selectOption("rating");
  await create.getByLabel(/^Rating criteria/).fill("Accuracy | 1-5 | Wrong | Right\nStyle | 1-3");
  await create.getByLabel("Rationale").selectOption("optional");
  await create.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByRole("link", { name: `${project} rated` })).toBeVisible();
  await page.goto(`/annotate?pid=E2E-RATED-${Date.now()}`);
  await page.getByRole("link", { name: `${project} rated` }).click();
  await expect(page.getByRole("heading", { name: "Rate each response" })).toBeVisible();
  await expect(page.getByRole("radiogroup", { name: "Response 1 · Accuracy" })).toContainText("Wrong");
  await expect(page.getByRole("radiogroup", { name: "Response 2 · Style" }).getByRole("radio")).toHaveCount(3);
  expect(problems).toEqual([]);
});

test("a bad upload is refused with the line named and nothing written", async ({ page }) => {
  const problems = watchForProblems(page, [422]);
  await logIn(page);
  await page.goto("/data");
  await waitForHydration(page);
  const form = page.getByRole("form", { name: "Import" });
  await form.getByLabel("Project").fill(`E2E bad ${Date.now()}`);
  await form.getByLabel("File", { exact: true }).setInputFiles({
    name: "bad.jsonl",
    mimeType: "application/jsonl",
    buffer: Buffer.from('{"prompt": "ok", "responses": [{"model": "a", "text": "x"}, {"model": "b", "text": "y"}]}\n{"prompt": 5}\n'),
  });
  await page.getByRole("button", { name: "Import", exact: true }).click();
  await expect(page.getByRole("alert")).toContainText("line 2");
  // The browser logs the refused request itself; nothing else may go wrong.
  expect(problems.filter((p) => !p.includes("status of 422"))).toEqual([]);
});
