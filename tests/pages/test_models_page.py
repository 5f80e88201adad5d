PAGE = "pages/models.py"


def test_lists_the_catalogue_with_status_and_notes(page):
    at = page(PAGE)
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert {"demo", "smollm2-135m-instruct"} <= set(table["model"])
    status = dict(zip(table["model"], table["status"], strict=True))
    assert status["demo"] == "ready" and status["smollm2-135m-instruct"] == "absent"
    assert at.selectbox(key="models_choice").value == "demo"  # prepared models first
    at.selectbox(key="models_choice").set_value("smollm2-135m-instruct").run()
    assert any("4-bit" in c.value or "Q4_1" in c.value for c in at.caption)
    assert at.button(key="models_prepare_smollm2-135m-instruct").label == "Prepare smollm2-135m-instruct"


def test_base_picker_offers_unprepared_models_with_a_way_to_get_them(page):
    at = page("pages/train.py")
    picker = at.selectbox(key="train_base")
    assert picker.value == "demo"
    assert "smollm2-135m-instruct (not prepared yet)" in picker.options
    picker.set_value("smollm2-135m-instruct").run()
    assert any("not prepared yet" in w.value for w in at.warning)


def test_models_of_your_own_are_listed_and_a_broken_catalog_json_is_explained(page, workbench_home, fake_wheel):
    import hashlib
    import json

    sha = hashlib.sha256(fake_wheel.read_bytes()).hexdigest()
    (workbench_home / "catalog.json").write_text(
        json.dumps(
            [
                {"name": "acme-tiny", "wheel": str(fake_wheel), "wheel_sha256": sha, "member": "llm_tiny/x.gguf"},
                {"name": "broken", "wheel": str(fake_wheel), "member": "llm_tiny/x.gguf"},
            ]
        ),
        encoding="utf-8",
    )
    at = page(PAGE)
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert "acme-tiny" in set(table["model"]) and "broken" not in set(table["model"])
    assert any("entry 2: wheel_sha256: missing." in w.value for w in at.warning)
    assert any(e.label == "Add a model of your own" for e in at.expander)
    assert any(str(workbench_home / "catalog.json") in m.value for m in at.markdown)


def test_preparing_a_model_is_a_job_that_outlives_the_tab(page, fake_launch):
    from workbench.jobs import registry
    from workbench.models import preparing

    at = page(PAGE)
    at.selectbox(key="models_choice").set_value("smollm2-135m-instruct").run()
    at.button(key="models_prepare_smollm2-135m-instruct").click().run()
    job = preparing.active_preparation("smollm2-135m-instruct")
    assert job is not None and job["status"] == "running" and [j for j, _ in fake_launch] == [job["id"]]
    assert registry.args(job) == {"name": "smollm2-135m-instruct"}

    later = page(PAGE)  # another tab, or the same one reopened: a new session
    later.selectbox(key="models_choice").set_value("smollm2-135m-instruct").run()
    assert any(i.value.startswith("Preparing smollm2-135m-instruct…") for i in later.info)
    assert not [b for b in later.button if b.key == "models_prepare_smollm2-135m-instruct"]
    assert preparing.start_prepare("smollm2-135m-instruct") == job["id"]  # not twice


def test_a_model_folder_on_this_machine_is_added_from_the_page(page, tmp_path):
    import shutil

    from workbench.models import demo
    from workbench.models.loading import resolve_base

    folder = tmp_path / "Team-Model"
    shutil.copytree(demo.demo_model_path().resolve(), folder)
    (folder / "manifest.json").unlink()
    at = page(PAGE)
    at.text_input(key="models_local_path").set_value(str(tmp_path / "nowhere")).run()
    at.button(key="models_local_add").click().run()
    assert any("is not a folder" in e.value for e in at.error)
    at.text_input(key="models_local_path").set_value(str(folder)).run()
    at.button(key="models_local_add").click().run()
    assert not at.exception, at.exception
    assert any("Added team-model: pick it as the base model" in s.value for s in at.success)
    assert resolve_base("team-model").endswith("models/team-model")
    at.run()
    assert any("**team-model** (local folder" in c.value for c in at.caption)
    # The Train page's picker lists it too.
    train = page("pages/train.py")
    assert "team-model" in train.selectbox(key="train_base").options
