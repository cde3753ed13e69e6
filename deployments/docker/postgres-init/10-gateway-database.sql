-- Run by the postgres image once, on an empty data folder: the gateway's database beside
-- Prefect's, owned by the same role (compose.yaml's POSTGRES_USER).
CREATE DATABASE dalrn_gateway OWNER prefect;
