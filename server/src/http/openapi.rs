//! The OpenAPI document of the REST API, served at `/api/v1/openapi.json`.
//!
//! Each operation documents its own answers; [`document`] then adds the ones every operation
//! can give (400, 413, 422, 429, 503, and 404 where the path names a resource), so that the
//! document lists every status the server sends. `make test` checks the document against the
//! running server with schemathesis (`scripts/schemathesis.sh`).

use serde_json::{Map, Value, json};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn ok_json(description: &str, schema: &Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn list_of(name: &str) -> Value {
    json!({"type": "array", "items": schema(name)})
}

fn file(description: &str, media_type: &str) -> Value {
    json!({"description": description, "content": {media_type: {"schema": {"type": "string"}}}})
}

fn path_id(name: &str, what: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": what,
           "schema": {"type": "integer", "format": "int64"}, "example": 1})
}

fn query(name: &str, kind: &str, what: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": what, "schema": {"type": kind}})
}

fn body(what: &str, schema: &Value) -> Value {
    json!({"required": true, "description": what,
           "content": {"application/json": {"schema": schema}}})
}

/// The body of a launch and of its preview.
fn launch_body() -> Value {
    let ids = json!({"type": "array", "items": {"type": "integer"}});
    let day = json!({"type": "string", "format": "date", "description": "YYYY-MM-DD (UTC)"});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "type": "object", "required": ["base_model_id"], "additionalProperties": false,
        "properties": {
            "base_model_id": {"type": "integer", "description": "A registered local model"},
            "output_name": {"type": "string", "minLength": 1, "maxLength": 200},
            "filter": {"type": "object", "additionalProperties": false, "properties": {
                "projects": ids, "from": day, "to": day,
                "sources": {"type": "array", "items": {"enum": ["human", "import", "llm_judge"]}},
                "cohorts": strings,
                "min_agreement": {"type": "number", "minimum": 0.5, "maximum": 1},
                "exclude_annotators": ids, "weight_annotators": {"type": "boolean"}}},
            "policy": {"enum": ["majority", "soft"]},
            "ranking_pairs": {"enum": ["all_pairs", "adjacent", "best_vs_worst"]},
            "rating_margin": {"type": "number", "exclusiveMinimum": 0},
            "config": {"type": "object", "additionalProperties": false, "properties": {
                "loss": {"enum": api::training::LOSSES},
                "beta": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
                "learning_rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "epochs": {"type": "integer", "minimum": 1, "maximum": 100},
                "batch_size": {"type": "integer", "minimum": 1, "maximum": 256},
                "lora_rank": {"type": ["integer", "null"], "minimum": 1, "maximum": 1024},
                "lora_all_linear": {"type": "boolean"},
                "lora_head": {"type": "boolean"},
                "max_length": {"type": "integer", "minimum": 8, "maximum": 32768},
                "max_steps": {"type": ["integer", "null"], "minimum": 1},
                "seed": {"type": "integer", "minimum": 0},
                "save_every": {"type": "integer", "minimum": 0},
                "resume_on_failure": {"type": "boolean"}}}
        }
    })
}

/// The body that creates a training policy.
fn policy_body() -> Value {
    let mut config = launch_body()["properties"]["config"].clone();
    config["description"] = json!("Each round's training settings");
    json!({
        "type": "object", "required": ["name", "project", "base_model"], "additionalProperties": false,
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
            "project": {"type": "string", "description": "The project whose votes count"},
            "base_model": {"type": "string", "description": "The first champion: a local model's name"},
            "min_new_votes": {"type": ["integer", "null"], "minimum": 1, "maximum": 1_000_000},
            "every_minutes": {"type": ["integer", "null"], "minimum": 1, "maximum": 525_600},
            "daily_cap": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000},
            "gate_min_battles": {"type": ["integer", "null"], "minimum": 1, "maximum": 100_000},
            "gate_max_battles": {"type": ["integer", "null"], "minimum": 1, "maximum": 1_000_000},
            "sources": {"type": "array", "items": {"enum": ["human", "import", "llm_judge"]}},
            "policy": {"enum": ["majority", "soft"]},
            "config": config
        }
    })
}

/// The optional fields every judgement body has.
fn judgement_fields(mut properties: Value) -> Value {
    properties["rationale"] = json!({"type": "string"});
    properties["time_ms"] = json!({"type": "integer", "minimum": 0, "maximum": i32::MAX});
    properties
}

/// Who may call an operation, as the 401 and 403 answers it documents.
#[derive(Clone, Copy)]
enum Access {
    /// Anyone.
    Public,
    /// Any session's user (annotators get one on arrival).
    Session,
    /// Researchers and admins.
    Staff,
    /// Admins.
    Admin,
}

fn access(responses: &mut Map<String, Value>, who: Access) {
    let (no_session, refused) = match who {
        Access::Public => return,
        Access::Session => ("No session", "Not this user's, or a cross-site request"),
        Access::Staff => ("No session", "Not a researcher or admin"),
        Access::Admin => ("No session", "Not an admin"),
    };
    responses
        .entry("401")
        .or_insert_with(|| error_response(no_session));
    responses
        .entry("403")
        .or_insert_with(|| error_response(refused));
}

/// Who may call each operation (by method and path); what is not listed is public.
fn access_of(method: &str, path: &str) -> Access {
    match (method, path) {
        ("get", "/api/v1/me" | "/api/v1/leaderboard") => Access::Public,
        (_, p) if p.starts_with("/api/v1/admin/") => Access::Admin,
        ("post", "/api/v1/training-runs" | "/api/v1/training-runs/preview") => Access::Admin,
        ("post", "/api/v1/training-runs/{id}/cancel") => Access::Admin,
        (_, p) if p.starts_with("/api/v1/training-runs") || p.starts_with("/api/v1/exports/") => {
            Access::Staff
        }
        (_, "/api/v1/projects/{id}/agreement" | "/api/v1/projects/{id}/consistency") => {
            Access::Staff
        }
        ("post", p) if p.starts_with("/api/v1/judge-jobs") => Access::Admin,
        ("post", p) if p.starts_with("/api/v1/training-policies") => Access::Admin,
        (_, p) if p.starts_with("/api/v1/training-policies") => Access::Staff,
        (_, p) if p.starts_with("/api/v1/judge-jobs") => Access::Staff,
        (_, "/api/v1/projects/{id}/judges") => Access::Staff,
        _ => Access::Session,
    }
}

/// Adds the answers every operation can give to each operation of `paths`.
fn add_common_responses(paths: &mut Map<String, Value>) {
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let has_body = op.get("requestBody").is_some();
            let has_path_id = path.contains('{');
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            access(responses, access_of(method, path));
            let mut common = vec![
                ("400", "A parameter or body that cannot be read"),
                ("413", "A body over the size limit"),
                ("429", "Too many requests from this client; see Retry-After"),
                ("503", "The database is unavailable just now"),
            ];
            if has_body {
                common.push(("422", "A body of the wrong shape, or against the rules"));
            }
            if has_path_id {
                common.push(("404", "No such resource"));
            }
            for (status, what) in common {
                responses
                    .entry(status)
                    .or_insert_with(|| error_response(what));
            }
        }
    }
}

/// The document (OpenAPI 3.1).
#[must_use]
pub fn document() -> Value {
    let mut doc = base_document();
    if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), more_paths()) {
        paths.extend(more);
    }
    if let Some(paths) = doc["paths"].as_object_mut() {
        add_common_responses(paths);
    }
    doc["components"]["schemas"] = schemas();
    doc
}

/// The shapes of the answers: the fields every answer has, typed; reports with many parts
/// (leaderboards, agreement) name their top-level fields only.
fn schemas() -> Value {
    let int = json!({"type": "integer"});
    let string = json!({"type": "string"});
    let boolean = json!({"type": "boolean"});
    let number = json!({"type": "number"});
    let nullable = |kind: &str| json!({"type": [kind, "null"]});
    let object = |required: &[&str], properties: Value| json!({"type": "object", "required": required, "properties": properties});
    json!({
        "Error": object(&["error"], json!({"error": object(&["code", "message"], json!({
            "code": string, "message": string}))})),
        "User": object(&["user_id", "role", "username", "external_id", "is_anonymous"], json!({
            "user_id": int,
            "role": {"enum": ["admin", "researcher", "annotator"]},
            "username": nullable("string"),
            "external_id": nullable("string"),
            "is_anonymous": boolean})),
        "Model": object(&["model_id", "name", "kind", "parent_model_id", "enabled", "sampling_weight"], json!({
            "model_id": int, "name": string, "kind": string,
            "parent_model_id": nullable("integer"), "enabled": boolean, "sampling_weight": number})),
        "ModelRef": object(&["model_id", "name"], json!({"model_id": int, "name": string})),
        "NextPair": object(&["left", "right"], json!({
            "left": schema("ModelRef"), "right": schema("ModelRef")})),
        "Project": object(&["project_id", "name", "protocol", "items"], json!({
            "project_id": int, "name": string,
            "protocol": {"enum": ["pairwise", "rating", "ranking"]}, "items": int})),
        "Assignment": object(&["assignment_id", "item_id", "prompt", "responses", "expires_at",
                               "guideline_version", "guidelines", "rationale_mode",
                               "strength_scale", "protocol", "config"], json!({
            "assignment_id": int, "item_id": int, "prompt": string,
            "responses": {"type": "array", "description": "[response_id, text] in display order",
                          "items": {"type": "array", "items": {"type": ["integer", "string"]},
                                    "minItems": 2, "maxItems": 2}},
            "expires_at": {"type": "string", "format": "date-time"},
            "guideline_version": int, "guidelines": string, "rationale_mode": string,
            "strength_scale": string, "protocol": string, "config": {"type": "object"}})),
        "Recorded": object(&["vote_id", "left_model", "right_model", "winner", "created"], json!({
            "vote_id": int, "left_model": string, "right_model": string,
            "winner": {"enum": ["a", "b", "tie", "both_bad"]}, "created": boolean})),
        "Run": object(&["id", "status", "base_model", "base_model_id", "step", "policy",
                        "config", "cancel_requested", "attempts", "created_at", "metrics"], json!({
            "id": int,
            "status": {"enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
            "base_model": string, "base_model_id": int,
            "launched_by": nullable("string"), "error": nullable("string"), "step": int,
            "total_steps": nullable("integer"), "eta_seconds": nullable("number"),
            "snapshot_votes": int, "snapshot_judgements": int, "snapshot_pairs": int,
            "policy": string, "config": {"type": "object"}, "cancel_requested": boolean,
            "output_model_id": nullable("integer"), "output_model": nullable("string"),
            "output_model_enabled": nullable("boolean"), "attempts": int,
            "created_at": {"type": "string", "format": "date-time"},
            "metrics": {"type": "array", "items": {"type": "object"}}})),
        "Metric": object(&["step", "metrics"], json!({"step": int, "metrics": {"type": "object"}})),
        "Preview": object(&["pairs", "votes", "rankings", "ratings", "matched_votes", "examples"], json!({
            "pairs": int, "votes": int, "rankings": int, "ratings": int, "matched_votes": int,
            "examples": {"type": "array", "items": object(
                &["prompt", "chosen", "rejected", "chosen_model", "rejected_model", "confidence"],
                json!({"prompt": string, "chosen": string, "rejected": string,
                       "chosen_model": string, "rejected_model": string, "confidence": number}))}})),
        "Leaderboard": object(&["rows"], json!({"rows": {"type": "array", "items": {"type": "object"}}})),
        "Agreement": object(&["project_id", "project", "protocol", "annotators", "distributions"], json!({
            "project_id": int, "project": string, "protocol": string,
            "annotators": {"type": "array"}, "distributions": {"type": "array"}})),
        "Consistency": object(&["project_id", "project", "disagreement"], json!({
            "project_id": int, "project": string,
            "disagreement": {"type": "array", "minItems": 4, "maxItems": 4}})),
        "JudgeJob": object(&["judge_job_id", "project", "judge", "template", "both_orders",
                             "status", "items_done", "items_total", "error"], json!({
            "judge_job_id": int, "project": string, "judge": string, "template": string,
            "both_orders": boolean,
            "status": {"enum": ["queued", "running", "done", "failed", "cancelled"]},
            "items_done": int, "items_total": int, "error": nullable("string")})),
        "Policy": object(&["policy_id", "name", "project_id", "project", "champion_model_id",
                           "champion", "min_new_votes", "daily_cap", "gate_min_battles",
                           "gate_max_battles", "sources", "paused", "new_votes", "rounds"], json!({
            "policy_id": int, "name": string, "project_id": int, "project": string,
            "champion_model_id": int, "champion": string, "min_new_votes": int,
            "every_minutes": nullable("integer"), "daily_cap": int, "gate_min_battles": int,
            "gate_max_battles": int, "sources": {"type": "array", "items": string},
            "paused": boolean, "new_votes": int, "last_round_at": nullable("string"),
            "last_error": nullable("string"),
            "rounds": {"type": "array", "items": object(
                &["round", "training_run_id", "run_status", "parent_model_id", "parent", "status",
                  "votes", "wins", "losses", "ties"],
                json!({"round": int, "training_run_id": int, "run_status": string,
                       "parent_model_id": int, "parent": string,
                       "child_model_id": nullable("integer"), "child": nullable("string"),
                       "status": {"enum": ["training", "gating", "promoted", "retired", "failed"]},
                       "votes": int, "snapshot_votes": nullable("integer"),
                       "loss": nullable("number"), "reward_accuracy": nullable("number"),
                       "wins": int, "losses": int, "ties": int,
                       "win_lower": nullable("number"), "win_upper": nullable("number"),
                       "decision": nullable("string"), "decided_at": nullable("string")}))}})),
        "JudgeAudit": object(&["project_id", "rows", "ratings"], json!({
            "project_id": int, "rows": {"type": "array", "items": {"type": "object"}},
            "ratings": {"type": "array", "items": {"type": "object"}}}))
    })
}

/// Paths of training runs, ratings, rankings and the quality reports.
fn more_paths() -> Value {
    let project = query(
        "project",
        "string",
        "Project name (all projects when absent)",
    );
    json!({
        "/api/v1/training-runs": {
            "get": {"summary": "The latest training runs (admins, researchers)",
                    "responses": {"200": ok_json("Runs", &list_of("Run"))}},
            "post": {"summary": "Launch a DPO run: freezes the snapshot and queues it (admins)",
                     "requestBody": body("What to train on and how", &launch_body()),
                     "responses": {"201": ok_json("The run", &schema("Run")),
                                   "422": error_response("Invalid config or filter, zero pairs, or a base model that does not load")}}
        },
        "/api/v1/training-runs/preview": {"post": {
            "summary": "How many pairs a launch would train on, with examples (admins)",
            "requestBody": body("As for a launch", &launch_body()),
            "responses": {"200": ok_json("Preview", &schema("Preview")),
                          "422": error_response("Invalid config or filter, or a base model that is not a local model")}
        }},
        "/api/v1/training-runs/{id}": {"get": {
            "summary": "A run with every step's metrics",
            "parameters": [path_id("id", "Run")],
            "responses": {"200": ok_json("The run", &schema("Run")), "404": error_response("No such run")}
        }},
        "/api/v1/training-runs/{id}/metrics": {"get": {
            "summary": "A run's metrics after a step",
            "parameters": [path_id("id", "Run"), query("after", "integer", "Steps after this one")],
            "responses": {"200": ok_json("Metrics", &list_of("Metric"))}
        }},
        "/api/v1/training-runs/{id}/cancel": {"post": {
            "summary": "Cancel a queued or running run (admins)",
            "parameters": [path_id("id", "Run")],
            "responses": {"200": ok_json("The run", &schema("Run")), "422": error_response("The run has ended")}
        }},
        "/api/v1/training-runs/{id}/snapshot.jsonl": {"get": {
            "summary": "The run's frozen pairs as TRL JSONL",
            "parameters": [path_id("id", "Run")],
            "responses": {"200": file("JSONL", "application/jsonl")}
        }},
        "/api/v1/assignments/{id}/ratings": {"post": {
            "summary": "Rate every response of a rating assignment on every criterion (and choose, in a mixed design)",
            "parameters": [path_id("id", "Assignment")],
            "requestBody": body("Every response on every criterion", &json!({
                "type": "object", "required": ["scores"],
                "properties": judgement_fields(json!({
                    "scores": {"type": "array", "items": {
                        "type": "object", "required": ["response_id", "criterion", "score"],
                        "properties": {"response_id": {"type": "integer"},
                                       "criterion": {"type": "string"},
                                       "score": {"type": ["integer", "null"], "description": "null for N/A"}}}},
                    "choice": {"enum": ["left", "right", "tie", "both_bad"]}}))})),
            "responses": {"201": {"description": "Recorded"}, "200": {"description": "Already recorded"},
                          "409": error_response("Expired, or another protocol's assignment"),
                          "422": error_response("A score outside the scale, a response not in the item, a missing row")}
        }},
        "/api/v1/assignments/{id}/ranking": {"post": {
            "summary": "Rank the responses of a ranking assignment (tie groups, best first)",
            "parameters": [path_id("id", "Assignment")],
            "requestBody": body("Tie groups of response ids, best first", &json!({
                "type": "object", "required": ["groups", "none_acceptable"],
                "properties": judgement_fields(json!({
                    "groups": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
                    "none_acceptable": {"type": "boolean"}}))})),
            "responses": {"201": {"description": "Recorded"}, "200": {"description": "Already recorded"},
                          "409": error_response("Expired, or another protocol's assignment"),
                          "422": error_response("A ranking that omits or repeats a response")}
        }},
        "/api/v1/exports/ratings": {"get": {
            "summary": "Ratings with display order and time, JSONL (researchers, admins)",
            "parameters": [project.clone()],
            "responses": {"200": file("JSONL", "application/jsonl")}
        }},
        "/api/v1/exports/rankings": {"get": {
            "summary": "Rankings with display order and time, JSONL (researchers, admins)",
            "parameters": [project],
            "responses": {"200": file("JSONL", "application/jsonl")}
        }},
        "/api/v1/projects/{id}/agreement": {"get": {
            "summary": "Agreement coefficients, per-annotator table, LLM judge, rating distributions",
            "parameters": [path_id("id", "Project")],
            "responses": {"200": ok_json("Report", &schema("Agreement")), "404": error_response("No such project")}
        }},
        "/api/v1/projects/{id}/consistency": {"get": {
            "summary": "Ratings and rankings against pairwise choices on the same items",
            "parameters": [path_id("id", "Project")],
            "responses": {"200": ok_json("Report", &schema("Consistency")), "404": error_response("No such project")}
        }},
        "/api/v1/projects/{id}/judges": {"get": {
            "summary": "The judge audit: per pairwise judge and template, swap consistency, position and length bias, agreement and Cohen's κ with the human majority; per rating judge, template and criterion, correlation and offset from the humans' ratings (researchers, admins)",
            "parameters": [path_id("id", "Project")],
            "responses": {"200": ok_json("Audit", &schema("JudgeAudit")), "404": error_response("No such project")}
        }},
        "/api/v1/judge-jobs": {"post": {
            "summary": "Queue a judge job over a pairwise project's items (both display orders by default) or a rating project's responses (each scored on each criterion); workers run it (admins)",
            "requestBody": body("What to judge, with whom", &json!({
                "type": "object", "required": ["project", "judge"],
                "properties": {
                    "project": {"type": "string"}, "judge": {"type": "string"},
                    "template": {"type": ["string", "null"]},
                    "orders": {"enum": ["both", "one", null]},
                    "limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 2_147_483_647},
                    "concurrency": {"type": ["integer", "null"], "minimum": 1, "maximum": 64},
                    "max_tokens": {"type": ["integer", "null"], "minimum": 16, "maximum": 32768},
                    "inconsistent_as": {"enum": ["tie", "drop", null]}}})),
            "responses": {"201": ok_json("The job", &schema("JudgeJob")),
                          "404": error_response("No such project, judge or template"),
                          "422": error_response("A project that is not pairwise, a judge that cannot answer, or settings out of range")}
        }},
        "/api/v1/judge-jobs/{id}": {"get": {
            "summary": "A judge job and its progress (researchers, admins)",
            "parameters": [path_id("id", "Judge job")],
            "responses": {"200": ok_json("The job", &schema("JudgeJob")), "404": error_response("No such job")}
        }},
        "/api/v1/training-policies": {
            "get": {"summary": "Every training policy with its lineage (researchers, admins)",
                    "responses": {"200": ok_json("Policies", &list_of("Policy"))}},
            "post": {"summary": "Create a training policy: new votes in a project start DPO rounds from its champion, and a promotion gate decides on each child (admins)",
                     "requestBody": body("The policy", &policy_body()),
                     "responses": {"201": ok_json("The policy", &schema("Policy")),
                                   "404": error_response("No such project or model"),
                                   "409": error_response("A policy with this name exists"),
                                   "422": error_response("A base that is not a local model, or settings out of range")}}
        },
        "/api/v1/training-policies/{id}": {"get": {
            "summary": "A training policy with its lineage: each round's run, parent, child, head-to-head record and the gate's decision (researchers, admins)",
            "parameters": [path_id("id", "Policy")],
            "responses": {"200": ok_json("The policy", &schema("Policy")), "404": error_response("No such policy")}
        }},
        "/api/v1/training-policies/{id}/pause": {"post": {
            "summary": "Pause a policy: it starts no round until resumed (admins)",
            "parameters": [path_id("id", "Policy")],
            "responses": {"200": ok_json("The policy", &schema("Policy")), "404": error_response("No such policy")}
        }},
        "/api/v1/training-policies/{id}/resume": {"post": {
            "summary": "Resume a paused policy (admins)",
            "parameters": [path_id("id", "Policy")],
            "responses": {"200": ok_json("The policy", &schema("Policy")), "404": error_response("No such policy")}
        }},
        "/api/v1/judge-jobs/{id}/cancel": {"post": {
            "summary": "Stop a queued or running judge job (admins); its verdicts so far stay",
            "parameters": [path_id("id", "Judge job")],
            "responses": {"202": {"description": "Stopping"}, "404": error_response("No such job"),
                          "409": error_response("The job has already ended")}
        }}
    })
}

fn base_document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Verdict API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Learning from human preferences. Authentication is the session cookie \
                            `verdict_session`; state-changing requests from another site are refused. \
                            Errors are `{\"error\": {\"code\", \"message\"}}`; a 429 carries Retry-After."
        },
        "paths": {
            "/api/v1/me": {"get": {
                "summary": "The session's user, or null",
                "responses": {"200": ok_json("The user", &json!({"oneOf": [schema("User"), {"type": "null"}]}))}
            }},
            "/api/v1/leaderboard": {"get": {
                "summary": "Bradley–Terry leaderboard with 95% bootstrap intervals and matrices",
                "parameters": [
                    query("project", "integer", "One project"),
                    query("category", "string", "One prompt category"),
                    query("cohort", "string", "Annotators of one cohort"),
                    query("source", "string", "human, llm_judge or import"),
                    query("from", "string", "First day, YYYY-MM-DD (UTC)"),
                    query("to", "string", "Last day, YYYY-MM-DD (UTC)"),
                    query("exclude_ties", "boolean", "Leave out ties"),
                    query("style_control", "boolean", "Control for length and markdown"),
                    query("ci", "string", "Interval method: sandwich (default) or bootstrap"),
                    query("reweight", "boolean", "Weight votes by inverse pair frequency; absent: where the votes include arena battles and no option excludes it"),
                    query("weight_annotators", "boolean", "Weight each vote by its annotator's NoisyBT skill (listed in annotator_weights)"),
                    query("tie_model", "string", "bt, rao-kupper, davidson, ignore or grounded-rao-kupper (both bad as its own outcome); also scores each on held-out votes"),
                    query("audit", "boolean", "Votes whose removal flips each adjacent pair"),
                    query("format", "string", "json (default) or csv")
                ],
                "responses": {"200": {"description": "The leaderboard", "content": {
                                  "application/json": {"schema": schema("Leaderboard")},
                                  "text/csv": {"schema": {"type": "string"}}}},
                              "400": error_response("Bad filter")}
            }},
            "/api/v1/projects": {"get": {
                "summary": "Projects with protocol and item count",
                "responses": {"200": ok_json("Projects", &list_of("Project"))}
            }},
            "/api/v1/exports/votes": {"get": {
                "summary": "Votes with full provenance (researchers, admins)",
                "parameters": [
                    query("project", "string", "Project name; all when absent"),
                    query("format", "string", "jsonl (default), csv or parquet")
                ],
                "responses": {"200": {"description": "The file, as an attachment"},
                              "400": error_response("Bad parameter")}
            }},
            "/api/v1/exports/dpo": {"get": {
                "summary": "DPO preference pairs in TRL's format, majority per item (researchers, admins)",
                "parameters": [
                    query("project", "string", "Project name; all when absent"),
                    query("format", "string", "jsonl (default), csv or parquet"),
                    query("include_llm_judge", "boolean", "Count LLM-judge votes too")
                ],
                "responses": {"200": {"description": "The file, as an attachment"},
                              "400": error_response("Bad parameter")}
            }},
            "/api/v1/exports/dpo/card": {"get": {
                "summary": "The dataset card (Markdown) of the matching DPO export",
                "parameters": [
                    query("project", "string", "Project name; all when absent"),
                    query("include_llm_judge", "boolean", "Count LLM-judge votes too")
                ],
                "responses": {"200": file("Markdown", "text/markdown")}
            }},
            "/api/v1/arena/next-pair": {"get": {
                "summary": "The next two models to battle, chosen by the uncertainty sampler",
                "parameters": [query("project", "integer", "Leaderboard slice to sample from")],
                "responses": {"200": ok_json("Left and right model", &schema("NextPair")),
                              "409": error_response("Fewer than two schedulable models")}
            }},
            "/api/v1/arena/battles/{id}/events": {"get": {
                "summary": "Server-sent events of an open-arena battle (its annotator only): delta {side, text}, failed {side, message}, ready {assignment_id, left_html, right_html}, end",
                "parameters": [path_id("id", "Battle")],
                "responses": {"200": file("The event stream", "text/event-stream"),
                              "403": error_response("Another annotator's battle"),
                              "404": error_response("No such battle")}
            }},
            "/api/v1/projects/{id}/assignments/next": {"post": {
                "summary": "The annotator's open assignment or a new one",
                "parameters": [path_id("id", "Project")],
                "responses": {"200": ok_json("The assignment with prompt and responses in display order", &schema("Assignment")),
                              "204": {"description": "Nothing left for this annotator"},
                              "404": error_response("No such project")}
            }},
            "/api/v1/assignments/{id}/vote": {"post": {
                "summary": "Record a pairwise vote (once) and reveal the models",
                "parameters": [path_id("id", "Assignment")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["choice"],
                    "properties": {
                        "choice": {"enum": ["left", "right", "tie", "both_bad"]},
                        "strength": {"enum": ["slight", "clear"]},
                        "rationale": {"type": "string"},
                        "time_to_vote_ms": {"type": "integer", "minimum": 0}
                    }}}}},
                "responses": {"201": ok_json("Recorded", &schema("Recorded")),
                              "200": ok_json("Already recorded: the same vote", &schema("Recorded")),
                              "403": error_response("Issued to another annotator"),
                              "409": error_response("Expired, or not a pairwise assignment"),
                              "422": error_response("Against the project's rules")}
            }},
            "/api/v1/assignments/{id}/skip": {"post": {
                "summary": "Give the item back to the pool",
                "parameters": [path_id("id", "Assignment")],
                "responses": {"204": {"description": "Skipped"}, "403": error_response("Not yours"),
                              "409": error_response("Expired")}
            }},
            "/api/v1/admin/users": {
                "get": {"summary": "List users (admins)",
                        "responses": {"200": ok_json("Users", &list_of("User"))}},
                "post": {"summary": "Create a user (admins)",
                         "requestBody": {"required": true, "content": {"application/json": {"schema": {
                             "type": "object", "required": ["username", "password", "role"],
                             "properties": {"username": {"type": "string", "pattern": "^[A-Za-z0-9_.@-]{1,64}$"},
                                            "password": {"type": "string", "minLength": 8},
                                            "role": {"enum": ["admin", "researcher", "annotator"]}}}}}},
                         "responses": {"201": ok_json("Created", &schema("User")), "409": error_response("Name taken"),
                                       "422": error_response("Invalid")}}
            },
            "/api/v1/admin/models": {"get": {
                "summary": "List models with their scheduling settings (admins)",
                "responses": {"200": ok_json("Models", &list_of("Model"))}
            }},
            "/api/v1/admin/models/{id}": {"patch": {
                "summary": "Enable or disable a model and set its sampler weight (admins)",
                "parameters": [path_id("id", "Model")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {"enabled": {"type": "boolean"},
                                   "sampling_weight": {"type": "number", "minimum": 0, "maximum": 1000}}}}}},
                "responses": {"200": ok_json("The model", &schema("Model")), "404": error_response("No such model")}
            }}
        },
        "components": {"schemas": {}}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_its_access_and_the_common_errors() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 25, "{}", paths.len());
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                for status in ["400", "429", "503"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
                let public = matches!(access_of(method, path), Access::Public);
                assert_eq!(!public, responses.contains_key("401"), "{method} {path}");
            }
        }
        assert_eq!(
            access_of("patch", "/api/v1/admin/models/{id}") as u8,
            Access::Admin as u8
        );
        // Every reference names a schema the document has.
        let text = doc.to_string();
        for name in text.split("#/components/schemas/").skip(1) {
            let name = name.split('"').next().unwrap();
            assert!(doc["components"]["schemas"].get(name).is_some(), "{name}");
        }
    }
}
