-- The meter query's private core as main rewrote it before issue 18's cheaper core
-- (commit 92340c9): per-unit bounding, then ROW_NUMBER() ranking per measure.
-- bench/bench_core.py runs it beside the current shapes; it is never run by a job.
WITH __per_unit AS (
  SELECT
    meter_readings.district AS __k0,
    LEAST(COUNT(*), 1) AS __c1,
    CASE
      WHEN SUM(
        CASE
          WHEN meter_readings.kwh IS NULL
          THEN NULL
          ELSE LEAST(GREATEST(CAST(meter_readings.kwh AS DOUBLE), 0.0), 20000.0)
        END
      ) IS NULL
      THEN NULL
      ELSE LEAST(
        GREATEST(
          CAST(SUM(
            CASE
              WHEN meter_readings.kwh IS NULL
              THEN NULL
              ELSE LEAST(GREATEST(CAST(meter_readings.kwh AS DOUBLE), 0.0), 20000.0)
            END
          ) AS DOUBLE),
          0.0
        ),
        20000.0
      )
    END AS __s2,
    LEAST(COUNT(meter_readings.kwh), 1) AS __c2,
    SUM(
      LEAST(
        GREATEST(
          CAST(ROUND(
            CASE
              WHEN meter_readings.kwh IS NULL
              THEN NULL
              ELSE LEAST(GREATEST(CAST(meter_readings.kwh AS DOUBLE), 0.0), 20000.0)
            END * 100000
          ) AS BIGINT),
          0
        ),
        2000000000
      )
    ) FILTER(WHERE
      NOT meter_readings.kwh IS NULL) AS __f2,
    CASE
      WHEN SUM(
        CASE
          WHEN meter_readings.kwh IS NULL
          THEN NULL
          ELSE LEAST(GREATEST(CAST(meter_readings.kwh AS DOUBLE), 0.0), 20000.0)
        END
      ) IS NULL
      THEN NULL
      ELSE LEAST(
        GREATEST(
          CAST(SUM(
            CASE
              WHEN meter_readings.kwh IS NULL
              THEN NULL
              ELSE LEAST(GREATEST(CAST(meter_readings.kwh AS DOUBLE), 0.0), 20000.0)
            END
          ) AS DOUBLE),
          0.0
        ),
        20000.0
      )
    END AS __s3,
    LEAST(COUNT(meter_readings.kwh), 1) AS __c3,
    SUM(
      LEAST(
        GREATEST(
          CAST(ROUND(
            CASE
              WHEN meter_readings.kwh IS NULL
              THEN NULL
              ELSE LEAST(GREATEST(CAST(meter_readings.kwh AS DOUBLE), 0.0), 20000.0)
            END * 100000
          ) AS BIGINT),
          0
        ),
        2000000000
      )
    ) FILTER(WHERE
      NOT meter_readings.kwh IS NULL) AS __f3,
    meter_readings.meter_id AS __unit
  FROM (
    SELECT
      *
    FROM (
      SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY meter_id ORDER BY meter_id) AS __row
      FROM meter_readings
    ) AS __numbered
    WHERE
      __row <= 1
  ) AS meter_readings
  GROUP BY
    meter_readings.district,
    meter_readings.meter_id
), __ranked AS (
  SELECT
    *,
    ROW_NUMBER() OVER (PARTITION BY __k0 ORDER BY ABS(__s2) DESC) AS __r2,
    ROW_NUMBER() OVER (PARTITION BY __k0 ORDER BY ABS(__s3) DESC) AS __r3
  FROM __per_unit
)
SELECT
  __k0 AS district,
  CAST(COALESCE(SUM(__c1), 0) AS BIGINT) AS meters,
  SUM(__s2) AS total_kwh,
  SUM(__s3) / NULLIF(SUM(__c3), 0) AS mean_kwh,
  COUNT(DISTINCT __unit) AS __n,
  ARRAY_AGG(DISTINCT UNHEX(SUBSTRING(MD5(CAST(__unit AS TEXT)), 1, 16))) AS __units,
  COALESCE(MAX(CASE WHEN __r2 = 1 THEN ABS(__s2) END), 0) AS __top1__total_kwh,
  COALESCE(MAX(CASE WHEN __r2 = 2 THEN ABS(__s2) END), 0) AS __top2__total_kwh,
  SUM(ABS(__s2)) AS __abs__total_kwh,
  SUM(__s2) AS __sum__total_kwh,
  CAST(SUM(__c2) AS BIGINT) AS __cnt__total_kwh,
  CAST(COALESCE(SUM(CAST(__f2 AS DECIMAL(38, 0))), 0) AS TEXT) AS __fx__total_kwh,
  COALESCE(MAX(CASE WHEN __r3 = 1 THEN ABS(__s3) END), 0) AS __top1__mean_kwh,
  COALESCE(MAX(CASE WHEN __r3 = 2 THEN ABS(__s3) END), 0) AS __top2__mean_kwh,
  SUM(ABS(__s3)) AS __abs__mean_kwh,
  SUM(__s3) AS __sum__mean_kwh,
  CAST(SUM(__c3) AS BIGINT) AS __cnt__mean_kwh,
  CAST(COALESCE(SUM(CAST(__f3 AS DECIMAL(38, 0))), 0) AS TEXT) AS __fx__mean_kwh
FROM __ranked
GROUP BY
  __k0
