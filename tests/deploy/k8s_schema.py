"""k8s_schema.py - check manifests against the Kubernetes API's field names.

nave-kubesim stores whatever it is given (no schema validation), so a field
spelt wrong in deploy/ would pass `kubectl apply` there and fail (or be
silently dropped) on a real cluster. Debian's python3-kubernetes (22.6,
Kubernetes 1.22 API) carries every built-in type as a model class with its
JSON field names (attribute_map) and types (openapi_types); this module walks
a manifest through them:

  unknown_fields(obj)  every key the API does not define for that type,
                       named by its path ("spec.template.spec.containers[0].livnessProbe")
  required(obj)        the client's own deserialisation (required fields)
  cross_refs(objs)     references between the objects of one install: the
                       selector matches the template, probes name declared
                       ports, mounts name volumes, the service account, secrets,
                       config maps, claims, roles and namespaces exist, a
                       Service's selector and target port reach a workload.
"""
import re

import kubernetes.client as kc

SCALARS = {"str": str, "int": int, "bool": bool, "float": (int, float), "datetime": str, "date": str}

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "PersistentVolume", "StorageClass", "PriorityClass", "Node"}


def model_for(obj):
    """The client's model class name for an object ("V1DaemonSet"), or None."""
    av, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    version = av.rsplit("/", 1)[-1]
    name = version[:1].upper() + version[1:] + kind
    return name if hasattr(kc, name) else None


def _walk(value, typ, path, errors):
    if typ == "object":
        return
    m = re.match(r"list\[(.*)\]$", typ)
    if m:
        if not isinstance(value, list):
            errors.append("%s: expected a list, got %s" % (path, type(value).__name__))
            return
        for i, v in enumerate(value):
            _walk(v, m.group(1), "%s[%d]" % (path, i), errors)
        return
    m = re.match(r"dict\(str, (.*)\)$", typ)
    if m:
        if not isinstance(value, dict):
            errors.append("%s: expected a map, got %s" % (path, type(value).__name__))
            return
        for k, v in value.items():
            _walk(v, m.group(1), "%s.%s" % (path, k), errors)
        return
    if typ in SCALARS:
        ok = isinstance(value, SCALARS[typ]) and not (typ in ("int", "float") and isinstance(value, bool))
        if not ok:
            errors.append("%s: expected %s, got %r" % (path, typ, value))
        return
    cls = getattr(kc, typ, None)
    if cls is None:
        errors.append("%s: unknown type %s in the client" % (path, typ))
        return
    if not isinstance(value, dict):
        errors.append("%s: expected an object (%s), got %r" % (path, typ, value))
        return
    by_json = {j: a for a, j in cls.attribute_map.items()}
    for k, v in value.items():
        attr = by_json.get(k)
        p = "%s.%s" % (path, k) if path else k
        if attr is None:
            errors.append("%s: unknown field (not in %s)" % (p, typ))
            continue
        _walk(v, cls.openapi_types[attr], p, errors)


def unknown_fields(obj):
    """Errors (strings) for fields the API does not define, or wrong types."""
    name = model_for(obj)
    if not name:
        return ["%s/%s: no model in python-kubernetes to check it against" % (obj.get("apiVersion"),
                                                                              obj.get("kind"))]
    errors = []
    _walk(obj, name, "", errors)
    return errors


def required(obj):
    """Deserialise through the client, which checks required fields; errors."""
    name = model_for(obj)
    client = kc.ApiClient()
    try:
        client._ApiClient__deserialize(obj, name)  # noqa: SLF001 - the client's own checks
    except (ValueError, TypeError) as e:
        return ["%s %s: %s" % (obj.get("kind"), obj.get("metadata", {}).get("name"), e)]
    return []


def _name(o):
    return o.get("metadata", {}).get("name")


def _ns(o):
    return o.get("metadata", {}).get("namespace")


def _pod_spec(o):
    return o.get("spec", {}).get("template", {}).get("spec")


def cross_refs(objs):
    """Errors for references that do not resolve within objs."""
    errors = []
    have = {(o.get("kind"), _ns(o), _name(o)): o for o in objs}

    def exists(kind, ns, name):
        return (kind, ns, name) in have

    namespaces = {_name(o) for o in objs if o.get("kind") == "Namespace"}
    for o in objs:
        kind, ns, name = o.get("kind"), _ns(o), _name(o)
        what = "%s %s" % (kind, name)
        if kind in CLUSTER_SCOPED:
            if ns:
                errors.append("%s is cluster-scoped but has metadata.namespace" % what)
        elif kind:
            if not ns:
                errors.append("%s has no metadata.namespace" % what)
            elif ns not in namespaces:
                errors.append("%s: namespace %s is not among the manifests" % (what, ns))
        spec = _pod_spec(o)
        if spec is not None:
            sel = o["spec"].get("selector", {}).get("matchLabels", {})
            labels = o["spec"]["template"].get("metadata", {}).get("labels", {})
            for k, v in sel.items():
                if labels.get(k) != v:
                    errors.append("%s: selector %s=%s does not match the template's labels" % (what, k, v))
            sa = spec.get("serviceAccountName")
            if sa and not exists("ServiceAccount", ns, sa):
                errors.append("%s: serviceAccountName %s is not among the manifests" % (what, sa))
            vols = {v["name"]: v for v in spec.get("volumes", [])}
            for v in vols.values():
                if "secret" in v and not exists("Secret", ns, v["secret"]["secretName"]):
                    errors.append("%s: volume %s: Secret %s missing" % (what, v["name"], v["secret"]["secretName"]))
                if "configMap" in v and not exists("ConfigMap", ns, v["configMap"]["name"]):
                    errors.append("%s: volume %s: ConfigMap missing" % (what, v["name"]))
                if "persistentVolumeClaim" in v and not exists("PersistentVolumeClaim", ns,
                                                                v["persistentVolumeClaim"]["claimName"]):
                    errors.append("%s: volume %s: claim missing" % (what, v["name"]))
            for c in spec.get("initContainers", []) + spec.get("containers", []):
                cw = "%s container %s" % (what, c["name"])
                ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
                for pk in ("startupProbe", "livenessProbe", "readinessProbe"):
                    hg = c.get(pk, {}).get("httpGet")
                    if hg and isinstance(hg["port"], str) and hg["port"] not in ports:
                        errors.append("%s: %s port %s is not a declared port" % (cw, pk, hg["port"]))
                for m in c.get("volumeMounts", []):
                    if m["name"] not in vols:
                        errors.append("%s: volumeMount %s names no volume" % (cw, m["name"]))
                for e in c.get("env", []):
                    vf = e.get("valueFrom", {})
                    for rk, k in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                        if rk in vf:
                            ref = vf[rk]
                            tgt = have.get((k, ns, ref["name"]))
                            if not tgt:
                                errors.append("%s: env %s: %s %s missing" % (cw, e["name"], k, ref["name"]))
                            elif ref["key"] not in (tgt.get("data", {}) or {}) and \
                                    ref["key"] not in (tgt.get("stringData", {}) or {}):
                                errors.append("%s: env %s: key %s missing" % (cw, e["name"], ref["key"]))
        if kind in ("RoleBinding", "ClusterRoleBinding"):
            rr = o["roleRef"]
            if not (exists(rr["kind"], ns if rr["kind"] == "Role" else None, rr["name"])):
                errors.append("%s: roleRef %s %s is not among the manifests" % (what, rr["kind"], rr["name"]))
            for s in o.get("subjects", []):
                if s["kind"] == "ServiceAccount" and not exists("ServiceAccount", s.get("namespace"), s["name"]):
                    errors.append("%s: subject ServiceAccount %s/%s missing" % (what, s.get("namespace"),
                                                                                 s["name"]))
        if kind == "ClusterRole" and o.get("aggregationRule"):
            for sel in o["aggregationRule"].get("clusterRoleSelectors", []):
                want = sel.get("matchLabels", {})
                if not any(x.get("kind") == "ClusterRole" and x is not o and
                           all(x.get("metadata", {}).get("labels", {}).get(k) == v for k, v in want.items())
                           for x in objs):
                    errors.append("%s: aggregationRule selects no ClusterRole here" % what)
        if kind == "Service":
            sel = o["spec"].get("selector", {})
            targets = [x for x in objs if _pod_spec(x) is not None and _ns(x) == ns and
                       all(x["spec"]["template"].get("metadata", {}).get("labels", {}).get(k) == v
                           for k, v in sel.items())]
            if not targets:
                errors.append("%s: selector matches no workload" % what)
            for p in o["spec"].get("ports", []):
                tp = p.get("targetPort")
                if isinstance(tp, str) and not any(
                        any(cp.get("name") == tp for c in _pod_spec(t)["containers"] for cp in c.get("ports", []))
                        for t in targets):
                    errors.append("%s: targetPort %s is no container port of its workload" % (what, tp))
    return errors
