"""Predictions on raw tables from Python: a DataFrame, a dict of columns, a list of dicts or
rows of cells, with names, categories and missing cells, must predict exactly what `nnspec
predict` predicts for the same rows written as a CSV file."""

import csv
import io
import shutil
import subprocess

import numpy as np
import pytest

import nnspec

from test_nnspec import SPECS, cli

pandas = pytest.importorskip("pandas")

CLASSES = ["Adelie", "Chinstrap", "Gentoo"]


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    """The shipped penguins spec trained once, its weights saved."""
    folder = tmp_path_factory.mktemp("penguins")
    nnspec.train(SPECS / "penguins.nn", overrides={"train.epochs": 20}).save(folder / "w.safetensors")
    return nnspec.load(SPECS / "penguins.nn", folder / "w.safetensors"), folder / "w.safetensors"


def cli_predict(spec, weights, csv_path):
    """`nnspec predict`'s classes and probabilities for a CSV file."""
    out = subprocess.run(
        [cli(), "predict", spec, "--weights", weights, "--input", csv_path],
        check=True,
        capture_output=True,
        text=True,
    )
    rows = list(csv.reader(io.StringIO(out.stdout)))
    header, rows = rows[0], rows[1:]
    column = header.index("class")
    probabilities = np.array([[float(v) for v in row[column + 1 :]] for row in rows], dtype=np.float32)
    return np.array([row[column] for row in rows], dtype=object), probabilities


def test_a_dataframe_with_names_and_missing_cells_predicts_as_the_command_line(penguins):
    model, weights = penguins
    assert model.classes == CLASSES
    # In the file's order.
    assert model.columns == ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
    frame = pandas.read_csv(SPECS / "data/penguins.csv")
    assert frame.isna().any(axis=1).sum() == 11, "the rows with NA cells are in"
    expected_classes, expected_probabilities = cli_predict(SPECS / "penguins.nn", weights, SPECS / "data/penguins.csv")
    classes = model.predict(frame)
    assert classes.dtype == object and set(classes) <= set(CLASSES)
    assert list(classes) == list(expected_classes)
    assert np.array_equal(model.predict_proba(frame), expected_probabilities)
    # The species column (the target) and year (ignored) are in the frame, and unused.
    assert list(model.predict(frame.drop(columns=["species", "year"]))) == list(expected_classes)


def test_dicts_rows_of_strings_and_columns_give_the_same_predictions(penguins):
    model, _ = penguins
    with open(SPECS / "data/penguins.csv") as file:
        records = list(csv.DictReader(file))
    expected = model.predict_proba(pandas.read_csv(SPECS / "data/penguins.csv"))
    # Every cell a string, "NA" where missing, as in the file.
    assert np.array_equal(model.predict_proba(records), expected)
    rows = [[record[name] for name in model.columns] for record in records]
    assert np.array_equal(model.predict_proba(rows), expected)
    columns = {name: [record[name] for record in records] for name in reversed(model.columns)}
    assert np.array_equal(model.predict_proba(columns), expected)
    # Missing cells as None, numbers as numbers.
    mixed = [
        {
            name: None if record[name] == "NA" else (float(record[name]) if name.endswith(("_mm", "_g")) else record[name])
            for name in model.columns
        }
        for record in records
    ]
    assert np.array_equal(model.predict_proba(mixed), expected)
    assert list(model.predict(records[:2])) == list(model.predict(pandas.read_csv(SPECS / "data/penguins.csv").head(2)))


def test_unseen_categories_and_missing_cells_are_encoded_as_by_predict(penguins, tmp_path):
    model, weights = penguins
    rows = [
        ["Atlantis", 39.1, 18.7, 181, 3750, "male"],
        ["Dream", None, 17.4, 186, 3800, None],
        ["Biscoe", 46.5, "  15.2 ", 210, None, "NA"],
    ]
    text = "island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex\n" + "".join(
        ",".join("NA" if cell is None else str(cell).strip() for cell in row) + "\n" for row in rows
    )
    (tmp_path / "new.csv").write_text(text)
    expected_classes, expected_probabilities = cli_predict(SPECS / "penguins.nn", weights, tmp_path / "new.csv")
    assert list(model.predict(rows)) == list(expected_classes)
    assert np.array_equal(model.predict_proba(rows), expected_probabilities)


def test_numbers_in_a_category_column_match_the_categories_they_equal(tmp_path):
    shutil.copytree(SPECS / "data", tmp_path / "data")
    spec = (SPECS / "penguins.nn").read_text().replace('ignore("year")', 'category("year")')
    assert spec != (SPECS / "penguins.nn").read_text()
    (tmp_path / "p.nn").write_text(spec)
    nnspec.train(tmp_path / "p.nn", overrides={"train.epochs": 5}).save(tmp_path / "w.safetensors")
    model = nnspec.load(tmp_path / "p.nn", tmp_path / "w.safetensors")
    frame = pandas.read_csv(tmp_path / "data/penguins.csv")
    assert frame["year"].dtype.kind == "i"
    expected = model.predict_proba(frame.astype({"year": str}))
    assert np.array_equal(model.predict_proba(frame), expected), "2007 finds the category `2007`"
    assert np.array_equal(model.predict_proba(frame.astype({"year": float})), expected), "2007.0 too"
    # An unseen year encodes as an unseen category, not as an error.
    assert model.predict_proba(frame.assign(year=1999)).shape == expected.shape


def test_bad_tables_raise_data_error_naming_the_row_and_column(penguins):
    model, _ = penguins
    with pytest.raises(nnspec.DataError) as raised:
        model.predict([["Biscoe", 39.1, "deep", 181, 3750, "male"]])
    assert "`<table>:1`, column 3 (`bill_depth_mm`)" in str(raised.value)
    with pytest.raises(nnspec.DataError, match="is not in the header"):
        model.predict({"island": ["Biscoe"]})
    with pytest.raises(nnspec.DataError, match="row 0 has 2 cells"):
        model.predict([["Biscoe", "male"]])
    with pytest.raises(nnspec.DataError, match="rows"):
        model.predict({name: ["1"] * (2 if name == "sex" else 1) for name in model.columns})


def test_numeric_models_take_frames_with_missing_cells_by_their_strategy(tmp_path):
    nnspec.train(SPECS / "iris.nn", overrides={"train.epochs": 5}).save(tmp_path / "w.safetensors")
    model = nnspec.load(SPECS / "iris.nn", tmp_path / "w.safetensors")
    assert model.classes == ["0", "1", "2"]
    frame = pandas.read_csv(SPECS / "data/iris.csv")
    classes = model.predict(frame)
    assert classes.dtype == np.int64, "classes given as indices stay indices"
    assert np.array_equal(classes, model.predict(frame[model.features].to_numpy()))
    frame.iloc[3, 0] = np.nan
    # iris.nn declares no missing strategy: a missing cell is an error, named with its row.
    with pytest.raises(nnspec.DataError, match="`<table>:4`"):
        model.predict(frame)
