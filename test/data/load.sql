-- Load the test data sets (see test/data/README.md) into the current schema.
-- Run from the repository root:  psql -f test/data/load.sql
-- Re-running replaces the tables and views. Drop them with:
--   DROP TABLE iris, breast_cancer CASCADE;
\set ON_ERROR_STOP on
SET client_min_messages = warning;

DROP TABLE IF EXISTS iris, breast_cancer CASCADE;

CREATE TABLE iris (
	sepal_length             float8 NOT NULL,
	sepal_width              float8 NOT NULL,
	petal_length             float8 NOT NULL,
	petal_width              float8 NOT NULL,
	species                  text NOT NULL CHECK (species IN ('setosa', 'versicolor', 'virginica')),
	split                    text NOT NULL CHECK (split IN ('train', 'test'))
);
COMMENT ON TABLE iris IS 'Fisher''s iris data (150 rows) from scikit-learn, stratified 80/20 split';

CREATE TABLE breast_cancer (
	mean_radius              float8 NOT NULL,
	mean_texture             float8 NOT NULL,
	mean_perimeter           float8 NOT NULL,
	mean_area                float8 NOT NULL,
	mean_smoothness          float8 NOT NULL,
	mean_compactness         float8 NOT NULL,
	mean_concavity           float8 NOT NULL,
	mean_concave_points      float8 NOT NULL,
	mean_symmetry            float8 NOT NULL,
	mean_fractal_dimension   float8 NOT NULL,
	radius_error             float8 NOT NULL,
	texture_error            float8 NOT NULL,
	perimeter_error          float8 NOT NULL,
	area_error               float8 NOT NULL,
	smoothness_error         float8 NOT NULL,
	compactness_error        float8 NOT NULL,
	concavity_error          float8 NOT NULL,
	concave_points_error     float8 NOT NULL,
	symmetry_error           float8 NOT NULL,
	fractal_dimension_error  float8 NOT NULL,
	worst_radius             float8 NOT NULL,
	worst_texture            float8 NOT NULL,
	worst_perimeter          float8 NOT NULL,
	worst_area               float8 NOT NULL,
	worst_smoothness         float8 NOT NULL,
	worst_compactness        float8 NOT NULL,
	worst_concavity          float8 NOT NULL,
	worst_concave_points     float8 NOT NULL,
	worst_symmetry           float8 NOT NULL,
	worst_fractal_dimension  float8 NOT NULL,
	diagnosis                text NOT NULL CHECK (diagnosis IN ('malignant', 'benign')),
	split                    text NOT NULL CHECK (split IN ('train', 'test'))
);
COMMENT ON TABLE breast_cancer IS 'Wisconsin diagnostic breast cancer data (569 rows) from scikit-learn, stratified 80/20 split';

\copy iris FROM 'test/data/iris.csv' WITH (FORMAT csv, HEADER true)
\copy breast_cancer FROM 'test/data/breast_cancer.csv' WITH (FORMAT csv, HEADER true)

CREATE VIEW iris_train AS
	SELECT sepal_length, sepal_width, petal_length, petal_width, species
	FROM iris WHERE split = 'train';
CREATE VIEW iris_test AS
	SELECT sepal_length, sepal_width, petal_length, petal_width, species
	FROM iris WHERE split = 'test';

CREATE VIEW breast_cancer_train AS
	SELECT mean_radius, mean_texture, mean_perimeter, mean_area, mean_smoothness, mean_compactness,
		mean_concavity, mean_concave_points, mean_symmetry, mean_fractal_dimension, radius_error,
		texture_error, perimeter_error, area_error, smoothness_error, compactness_error,
		concavity_error, concave_points_error, symmetry_error, fractal_dimension_error,
		worst_radius, worst_texture, worst_perimeter, worst_area, worst_smoothness,
		worst_compactness, worst_concavity, worst_concave_points, worst_symmetry,
		worst_fractal_dimension, diagnosis
	FROM breast_cancer WHERE split = 'train';
CREATE VIEW breast_cancer_test AS
	SELECT mean_radius, mean_texture, mean_perimeter, mean_area, mean_smoothness, mean_compactness,
		mean_concavity, mean_concave_points, mean_symmetry, mean_fractal_dimension, radius_error,
		texture_error, perimeter_error, area_error, smoothness_error, compactness_error,
		concavity_error, concave_points_error, symmetry_error, fractal_dimension_error,
		worst_radius, worst_texture, worst_perimeter, worst_area, worst_smoothness,
		worst_compactness, worst_concavity, worst_concave_points, worst_symmetry,
		worst_fractal_dimension, diagnosis
	FROM breast_cancer WHERE split = 'test';

ANALYZE iris;
ANALYZE breast_cancer;
