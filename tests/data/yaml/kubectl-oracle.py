#!/usr/bin/python3
"""Record what Kubernetes makes of YAML files, as expectations for test_yaml.

For each FILE.yaml given, runs kubectl 1.32 offline
(`kubectl label --local -f FILE nonexistent- -o json`, which reads the file
with sigs.k8s.io/yaml exactly as `kubectl apply` does, removes a label that is
not there, and prints the objects) and writes FILE.expected.json: a JSON array
with one element per document. kubectl adds `metadata.labels: {}` when a
document has no labels; that is removed again. Integers outside int64 (which
Kubernetes holds as float64) are written as floats, as jansson reads them.

When kubectl refuses the YAML itself, FILE.error gets its message instead
(test_yaml then requires our parser to refuse the file too). When the YAML is
fine but is not a Kubernetes object kubectl can decode (documentation
placeholders such as `metadata: ...`), PyYAML's libyaml-based safe loader (also YAML 1.1)
is used, and the file is named in the output so a person can check it.

Usage (from the repository root):
  /usr/bin/python3 tests/data/yaml/kubectl-oracle.py tests/data/yaml/examples/*.yaml
"""
import json
import os
import subprocess
import sys

import yaml

INT64 = (-(1 << 63), (1 << 63) - 1)


def fix_numbers(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and not INT64[0] <= v <= INT64[1]:
        return float(v)
    if isinstance(v, dict):
        return {k: fix_numbers(x) for k, x in v.items()}
    if isinstance(v, list):
        return [fix_numbers(x) for x in v]
    return v


def split_objects(text):
    dec = json.JSONDecoder()
    out, i, text = [], 0, text.strip()
    while i < len(text):
        obj, i = dec.raw_decode(text, i)
        while i < len(text) and text[i].isspace():
            i += 1
        out.append(obj)
    return out


def main(paths):
    for path in paths:
        base = path[:-len('.yaml')]
        for stale in (base + '.expected.json', base + '.error'):
            if os.path.exists(stale):
                os.unlink(stale)
        k = subprocess.run(['kubectl', 'label', '--local', '-f', path, 'nonexistent-', '-o', 'json'],
                           capture_output=True, text=True)
        if k.returncode != 0 and 'converting YAML to JSON' in k.stderr:
            with open(base + '.error', 'w') as f:
                f.write(k.stderr.strip().split('converting YAML to JSON: ')[-1] + '\n')
            print('refused  ', path)
            continue
        with open(path) as f:
            # BaseLoader: structure only, every scalar a string.
            originals = [d for d in yaml.load_all(f, Loader=yaml.CBaseLoader) if d not in (None, '')]
        if k.returncode == 0:
            docs = split_objects(k.stdout)
            for doc, orig in zip(docs, originals):
                md = doc.get('metadata')
                if isinstance(md, dict) and md.get('labels') == {} and \
                        'labels' not in ((orig or {}).get('metadata') or {}):
                    del md['labels']
            how = 'kubectl  '
        else:
            with open(path) as f:
                docs = [d for d in yaml.load_all(f, Loader=yaml.CSafeLoader) if d is not None]
            how = 'PyYAML   '
        with open(base + '.expected.json', 'w') as f:
            json.dump(fix_numbers(docs), f, indent=1, sort_keys=True, ensure_ascii=False)
            f.write('\n')
        print(how, path)


if __name__ == '__main__':
    main(sys.argv[1:])
