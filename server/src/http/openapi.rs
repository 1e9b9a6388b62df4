//! The OpenAPI document of the REST API, served at `/api/v1/openapi.json`.

use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn ok_json(description: &str, schema: &Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn path_id(name: &str, what: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": what,
           "schema": {"type": "integer", "format": "int64"}})
}

fn query(name: &str, kind: &str, what: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": what, "schema": {"type": kind}})
}

/// Paths of training runs, ratings, rankings and the quality reports.
fn more_paths() -> Value {
    let any = json!({"type": "object"});
    let body = |what: &str| {
        json!({"required": true, "description": what,
                                   "content": {"application/json": {"schema": {"type": "object"}}}})
    };
    let project = query(
        "project",
        "string",
        "Project name (all projects when absent)",
    );
    json!({
        "/api/v1/training-runs": {
            "get": {"summary": "The latest training runs (admins, researchers)",
                    "responses": {"200": ok_json("Runs", &any), "403": error_response("Not staff")}},
            "post": {"summary": "Launch a DPO run: freezes the snapshot and queues it (admins)",
                     "requestBody": body("{base_model_id, output_name?, filter, policy, ranking_pairs?, rating_margin?, config}"),
                     "responses": {"201": ok_json("The run", &any),
                                   "422": error_response("Invalid config or filter, zero pairs, or a base model that does not load")}}
        },
        "/api/v1/training-runs/preview": {"post": {
            "summary": "How many pairs a launch would train on, with examples (admins)",
            "requestBody": body("As for a launch"),
            "responses": {"200": ok_json("Preview", &any), "422": error_response("Invalid filter")}
        }},
        "/api/v1/training-runs/{id}": {"get": {
            "summary": "A run with every step's metrics",
            "parameters": [path_id("id", "Run")],
            "responses": {"200": ok_json("The run", &any), "404": error_response("No such run")}
        }},
        "/api/v1/training-runs/{id}/metrics": {"get": {
            "summary": "A run's metrics after a step",
            "parameters": [path_id("id", "Run"), query("after", "integer", "Steps after this one")],
            "responses": {"200": ok_json("Metrics", &any)}
        }},
        "/api/v1/training-runs/{id}/cancel": {"post": {
            "summary": "Cancel a queued or running run (admins)",
            "parameters": [path_id("id", "Run")],
            "responses": {"200": ok_json("The run", &any), "422": error_response("The run has ended")}
        }},
        "/api/v1/training-runs/{id}/snapshot.jsonl": {"get": {
            "summary": "The run's frozen pairs as TRL JSONL",
            "parameters": [path_id("id", "Run")],
            "responses": {"200": {"description": "JSONL"}}
        }},
        "/api/v1/assignments/{id}/ratings": {"post": {
            "summary": "Rate every response of a rating assignment on every criterion (and choose, in a mixed design)",
            "parameters": [path_id("id", "Assignment")],
            "requestBody": body("{scores: [{response_id, criterion, score|null}], choice?, rationale?, time_ms?}"),
            "responses": {"201": {"description": "Recorded"}, "200": {"description": "Already recorded"},
                          "422": error_response("A score outside the scale, a response not in the item, a missing row")}
        }},
        "/api/v1/assignments/{id}/ranking": {"post": {
            "summary": "Rank the responses of a ranking assignment (tie groups, best first)",
            "parameters": [path_id("id", "Assignment")],
            "requestBody": body("{groups: [[response_id, ...], ...], none_acceptable, rationale?, time_ms?}"),
            "responses": {"201": {"description": "Recorded"}, "200": {"description": "Already recorded"},
                          "422": error_response("A ranking that omits or repeats a response")}
        }},
        "/api/v1/exports/ratings": {"get": {
            "summary": "Ratings with display order and time, JSONL (researchers, admins)",
            "parameters": [project.clone()],
            "responses": {"200": {"description": "JSONL"}}
        }},
        "/api/v1/exports/rankings": {"get": {
            "summary": "Rankings with display order and time, JSONL (researchers, admins)",
            "parameters": [project],
            "responses": {"200": {"description": "JSONL"}}
        }},
        "/api/v1/projects/{id}/agreement": {"get": {
            "summary": "Agreement coefficients, per-annotator table, LLM judge, rating distributions",
            "parameters": [path_id("id", "Project")],
            "responses": {"200": ok_json("Report", &any), "404": error_response("No such project")}
        }},
        "/api/v1/projects/{id}/consistency": {"get": {
            "summary": "Ratings and rankings against pairwise choices on the same items",
            "parameters": [path_id("id", "Project")],
            "responses": {"200": ok_json("Report", &any), "404": error_response("No such project")}
        }}
    })
}

/// The document (OpenAPI 3.1).
#[must_use]
pub fn document() -> Value {
    let mut doc = base_document();
    if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), more_paths()) {
        paths.extend(more);
    }
    doc
}

fn base_document() -> Value {
    let any = json!({"type": "object"});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Verdict API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Learning from human preferences. Authentication is the session cookie \
                            `verdict_session`; state-changing requests from another site are refused."
        },
        "paths": {
            "/api/v1/me": {"get": {
                "summary": "The session's user, or null",
                "responses": {"200": ok_json("The user", &any)}
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
                    query("reweight", "boolean", "Weight votes by inverse pair frequency"),
                    query("weight_annotators", "boolean", "Weight each vote by its annotator's NoisyBT skill (listed in annotator_weights)"),
                    query("tie_model", "string", "bt, rao-kupper, davidson, ignore or grounded-rao-kupper (both bad as its own outcome); also scores each on held-out votes"),
                    query("audit", "boolean", "Votes whose removal flips each adjacent pair"),
                    query("format", "string", "json (default) or csv")
                ],
                "responses": {"200": ok_json("The leaderboard", &any), "400": error_response("Bad filter")}
            }},
            "/api/v1/projects": {"get": {
                "summary": "Projects with protocol and item count",
                "responses": {"200": ok_json("Projects", &any), "401": error_response("No session")}
            }},
            "/api/v1/exports/votes": {"get": {
                "summary": "Votes with full provenance (researchers, admins)",
                "parameters": [
                    query("project", "string", "Project name; all when absent"),
                    query("format", "string", "jsonl (default), csv or parquet")
                ],
                "responses": {"200": {"description": "The file, as an attachment"},
                              "400": error_response("Bad parameter"),
                              "403": error_response("Not a researcher or admin")}
            }},
            "/api/v1/exports/dpo": {"get": {
                "summary": "DPO preference pairs in TRL's format, majority per item (researchers, admins)",
                "parameters": [
                    query("project", "string", "Project name; all when absent"),
                    query("format", "string", "jsonl (default), csv or parquet"),
                    query("include_llm_judge", "boolean", "Count LLM-judge votes too")
                ],
                "responses": {"200": {"description": "The file, as an attachment"},
                              "400": error_response("Bad parameter"),
                              "403": error_response("Not a researcher or admin")}
            }},
            "/api/v1/exports/dpo/card": {"get": {
                "summary": "The dataset card (Markdown) of the matching DPO export",
                "parameters": [
                    query("project", "string", "Project name; all when absent"),
                    query("include_llm_judge", "boolean", "Count LLM-judge votes too")
                ],
                "responses": {"200": {"description": "Markdown"},
                              "403": error_response("Not a researcher or admin")}
            }},
            "/api/v1/arena/next-pair": {"get": {
                "summary": "The next two models to battle, chosen by the uncertainty sampler",
                "parameters": [query("project", "integer", "Leaderboard slice to sample from")],
                "responses": {"200": ok_json("Left and right model", &any),
                              "401": error_response("No session"),
                              "409": error_response("Fewer than two schedulable models")}
            }},
            "/api/v1/arena/battles/{id}/events": {"get": {
                "summary": "Server-sent events of an open-arena battle (its annotator only): delta {side, text}, failed {side, message}, ready {assignment_id, left_html, right_html}, end",
                "parameters": [path_id("id", "Battle")],
                "responses": {"200": {"description": "text/event-stream"},
                              "401": error_response("No session"),
                              "403": error_response("Another annotator's battle"),
                              "404": error_response("No such battle")}
            }},
            "/api/v1/projects/{id}/assignments/next": {"post": {
                "summary": "The annotator's open assignment or a new one",
                "parameters": [path_id("id", "Project")],
                "responses": {"200": ok_json("The assignment with prompt and responses in display order", &any),
                              "204": {"description": "Nothing left for this annotator"},
                              "401": error_response("No session"),
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
                "responses": {"201": ok_json("Recorded", &any),
                              "200": ok_json("Already recorded: the same vote", &any),
                              "403": error_response("Issued to another annotator"),
                              "409": error_response("Expired"),
                              "422": error_response("Against the project's rules")}
            }},
            "/api/v1/assignments/{id}/skip": {"post": {
                "summary": "Give the item back to the pool",
                "parameters": [path_id("id", "Assignment")],
                "responses": {"204": {"description": "Skipped"}, "403": error_response("Not yours")}
            }},
            "/api/v1/admin/users": {
                "get": {"summary": "List users (admins)",
                        "responses": {"200": ok_json("Users", &any), "403": error_response("Not an admin")}},
                "post": {"summary": "Create a user (admins)",
                         "requestBody": {"required": true, "content": {"application/json": {"schema": {
                             "type": "object", "required": ["username", "password", "role"],
                             "properties": {"username": {"type": "string"},
                                            "password": {"type": "string", "minLength": 8},
                                            "role": {"enum": ["admin", "researcher", "annotator"]}}}}}},
                         "responses": {"201": ok_json("Created", &any), "409": error_response("Name taken"),
                                       "422": error_response("Invalid")}}
            },
            "/api/v1/admin/models": {"get": {
                "summary": "List models with their scheduling settings (admins)",
                "responses": {"200": ok_json("Models", &any), "403": error_response("Not an admin")}
            }},
            "/api/v1/admin/models/{id}": {"patch": {
                "summary": "Enable or disable a model and set its sampler weight (admins)",
                "parameters": [path_id("id", "Model")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {"enabled": {"type": "boolean"},
                                   "sampling_weight": {"type": "number", "minimum": 0}}}}}},
                "responses": {"200": ok_json("The model", &any), "404": error_response("No such model")}
            }}
        },
        "components": {"schemas": {"Error": {
            "type": "object",
            "properties": {"error": {"type": "object", "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}}}}
        }}}
    })
}
