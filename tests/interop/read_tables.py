"""Read .h5 tables with whatever pandas this interpreter has; print them as JSON.

Runs in another environment than kit's (another pandas major version, or DeepLabCut's),
so it imports nothing from kit. Usage: python read_tables.py FILE.h5 [FILE.h5 ...]
Prints {"pandas": version, "tables": {path: {...} or {"error": "..."}}}.
"""

import json
import sys

import pandas as pd


def describe(path: str) -> dict:
    try:
        df = pd.read_hdf(path)
    except Exception as e:  # noqa: BLE001 (reported to the test, which names the file)
        return {"error": f"{type(e).__name__}: {e}"}
    return {
        "index": [i if isinstance(i, (int, str)) else list(i) if isinstance(i, tuple) else int(i)
                  for i in df.index.tolist()],  # a tuple: a split index (labeled-data, video, image)
        "index_names": list(df.index.names),
        "columns": [list(c) for c in df.columns.tolist()],
        "column_names": list(df.columns.names),
        "values": df.to_numpy(dtype="float64").tolist(),
    }


if __name__ == "__main__":
    print(json.dumps({"pandas": pd.__version__,
                      "tables": {path: describe(path) for path in sys.argv[1:]}}))
