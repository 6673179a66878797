"""The store's tables and schema version."""
from __future__ import annotations

SCHEMA_VERSION = 5
META_TABLE = "vizkit_meta"

MAPS_DDL = """
CREATE TABLE IF NOT EXISTS similarity_maps (
    result_key VARCHAR, idx INTEGER, rank INTEGER, nbr INTEGER, score FLOAT, map_score FLOAT,
    qh INTEGER, qw INTEGER, qmap FLOAT[], rh INTEGER, rw INTEGER, rmap FLOAT[]);"""

# v3: 2-D layouts, cluster assignments and classifier predictions, per image
LAYOUT_DDL = """
CREATE TABLE IF NOT EXISTS projections (result_key VARCHAR, idx INTEGER, x FLOAT, y FLOAT);
CREATE TABLE IF NOT EXISTS clusters (result_key VARCHAR, idx INTEGER, cluster INTEGER,
    dist FLOAT);
CREATE TABLE IF NOT EXISTS predictions (result_key VARCHAR, idx INTEGER, pred INTEGER,
    confidence FLOAT);"""

# v4: per epoch of a training run, each sampled anchor's closest positive and negative
TRAINING_DDL = """
CREATE TABLE IF NOT EXISTS anchors (run VARCHAR, epoch INTEGER, split VARCHAR, idx INTEGER,
    pos_idx INTEGER, pos_sim FLOAT, neg_idx INTEGER, neg_sim FLOAT);"""

# v5: result data as files beside the store (matrices, neighbour lists, index files)
SHARDS_DDL = """
CREATE TABLE IF NOT EXISTS shards (result_key VARCHAR, name VARCHAR, path VARCHAR,
    rows BIGINT, cols BIGINT, dtype VARCHAR, bytes BIGINT, sha256 VARCHAR,
    PRIMARY KEY (result_key, name));"""

DDL = f"""
CREATE TABLE IF NOT EXISTS {META_TABLE} (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS datasets (
    dataset_key VARCHAR PRIMARY KEY, name VARCHAR, fingerprint VARCHAR, n_images INTEGER,
    classes VARCHAR, description VARCHAR, skipped VARCHAR, created_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS images (
    dataset_key VARCHAR, idx INTEGER, image_id VARCHAR, label INTEGER, split VARCHAR,
    thumb BLOB);
CREATE TABLE IF NOT EXISTS results (
    result_key VARCHAR PRIMARY KEY, kind VARCHAR, dataset_key VARCHAR, model VARCHAR,
    weights VARCHAR, weights_fp VARCHAR, checkpoint VARCHAR, layer VARCHAR, pooling VARCHAR,
    metric VARCHAR, k INTEGER, n INTEGER, dim INTEGER, source_key VARCHAR, params VARCHAR,
    code_version INTEGER, created_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS features (result_key VARCHAR, idx INTEGER, vec FLOAT[]);
CREATE TABLE IF NOT EXISTS neighbors (
    result_key VARCHAR, idx INTEGER, nbr INTEGER[], score FLOAT[]);
CREATE TABLE IF NOT EXISTS runs (
    run VARCHAR PRIMARY KEY, model VARCHAR, dataset_key VARCHAR, config VARCHAR,
    created_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS checkpoints (
    run VARCHAR, epoch INTEGER, path VARCHAR, sha256 VARCHAR, weights_fp VARCHAR,
    metrics VARCHAR, created_at TIMESTAMP, PRIMARY KEY (run, epoch));
""" + MAPS_DDL + LAYOUT_DDL + TRAINING_DDL + SHARDS_DDL

# Migrations from an older schema version: {old_version: list of SQL statements}.
MIGRATIONS: dict[int, list[str]] = {
    1: [MAPS_DDL],  # v2: precomputed similarity maps
    2: [LAYOUT_DDL],  # v3: projections, clusters, predictions
    3: [TRAINING_DDL],  # v4: anchors of training runs
    4: [SHARDS_DDL],  # v5: result data as files (rows of older results are moved to files)
}
