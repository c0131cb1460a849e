#!/usr/bin/python3
"""Regenerate the proto/ fixtures: good/ (one valid event of each kind, written
as the protocol says) and bad/ (each a valid event broken in one way) with
bad/cases.txt, the expected error code and field of each. Run it from
anywhere: /usr/bin/python3 tests/data/proto/gen_fixtures.py. The tests only
read the files; this script is how they were made. The cases too large to
keep as files (over 1 MiB, 500 KiB of manifests, 10001 resync entries) are
built in tests/unit/test_proto_event.c instead."""
import json
import os
HERE=os.path.dirname(os.path.abspath(__file__))
D=os.path.join(HERE,'good')
MB='io.open-cluster-management.works.v1alpha1.manifestbundles'
UID='5f0c2e1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b'
UID2='0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'
HASH='9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
def existing(name, key):
    try:
        return json.load(open(os.path.join(D, name)))['data'][key]
    except (OSError, KeyError, ValueError):
        return None
def openssl_pems():
    import subprocess, tempfile
    t = tempfile.mkdtemp()
    run = lambda *a: subprocess.run(a, cwd=t, check=True, capture_output=True)
    run('openssl', 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'k.pem')
    run('openssl', 'req', '-new', '-key', 'k.pem', '-subj', '/O=system:open-cluster-management:cluster1/CN=system:open-cluster-management:cluster1:agent', '-out', 'csr.pem')
    run('openssl', 'req', '-x509', '-key', 'k.pem', '-subj', '/CN=nave-test', '-days', '3650', '-out', 'crt.pem')
    run('openssl', 'req', '-x509', '-key', 'k.pem', '-subj', '/CN=nave-ca', '-days', '3650', '-out', 'ca.pem')
    rd = lambda n: open(os.path.join(t, n)).read()
    return rd('csr.pem'), rd('crt.pem') + rd('ca.pem')
# Keep the PEMs of earlier runs so regenerating changes nothing.
csr = existing('cert-renew-request.json', 'request')
crt = existing('cert-renew-response.json', 'certificate')
if not csr or not crt:
    csr, crt = openssl_pems()
def env(type_, id_, source, data=None, **ext):
    e={"specversion":"1.0","id":id_,"source":source,"type":type_,"time":"2026-11-27T05:11:35.123456Z"}
    e.update(ext)
    if data is not None:
        e["datacontenttype"]="application/json"; e["data"]=data
    return e
deploy={"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"hello","namespace":"default"},
 "spec":{"selector":{"matchLabels":{"app":"hello"}},"template":{"metadata":{"labels":{"app":"hello"}},
 "spec":{"containers":[{"name":"hello","image":"quay.io/asmacdo/busybox","command":["sh","-c","echo \"Hello, Kubernetes!\" && sleep 3600"]}]}}}}
sa={"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"hello-sa","namespace":"default"}}
bundle={"manifests":[sa,deploy]}
bundle_full={"manifests":[sa,deploy],
 "deleteOption":{"propagationPolicy":"SelectivelyOrphan","selectivelyOrphans":{"orphaningRules":[{"group":"","resource":"serviceaccounts","namespace":"default","name":"hello-sa"}]},"ttlSecondsAfterFinished":300},
 "manifestConfigs":[{"resourceIdentifier":{"group":"apps","resource":"deployments","namespace":"default","name":"hello"},
   "feedbackRules":[{"type":"WellKnownStatus"},{"type":"JSONPaths","jsonPaths":[{"name":"isAvailable","path":".status.conditions[?(@.type==\"Available\")].status"}]}],
   "updateStrategy":{"type":"ServerSideApply","serverSideApply":{"force":True,"fieldManager":"work-agent","ignoreFields":[{"condition":"OnSpokePresent","jsonPaths":[".spec.replicas"]}]}},
   "conditionRules":[{"type":"WellKnownConditions","condition":"Complete"},{"type":"CEL","condition":"Ready","celExpressions":["object.status.readyReplicas > 0"],"message":"ready"}],
   "feedbackScrapeType":"Watch"}],
 "executor":{"subject":{"type":"ServiceAccount","serviceAccount":{"namespace":"default","name":"executor1"}}}}
meta=json.dumps({"name":"hello-work","namespace":"cluster1","uid":UID,"generation":2,"labels":{"app":"hello"},"annotations":{"a":"b"}},separators=(',',':'),sort_keys=True)
hub='nave-hub'; ag='nave-klusterlet/cluster1'
status={"conditions":[{"type":"Applied","status":"True","reason":"AppliedManifestWorkComplete","message":"Apply manifest work complete","lastTransitionTime":"2026-11-27T05:11:35Z","observedGeneration":2},
 {"type":"Available","status":"True","reason":"ResourcesAvailable","message":"All resources are available","lastTransitionTime":"2026-11-27T05:11:40Z","observedGeneration":2}],
 "resourceStatus":{"manifests":[
  {"resourceMeta":{"ordinal":0,"group":"","version":"v1","kind":"ServiceAccount","resource":"serviceaccounts","name":"hello-sa","namespace":"default"},
   "conditions":[{"type":"Applied","status":"True","reason":"AppliedManifestComplete","message":"Apply manifest complete","lastTransitionTime":"2026-11-27T05:11:35Z"}]},
  {"resourceMeta":{"ordinal":1,"group":"apps","version":"v1","kind":"Deployment","resource":"deployments","name":"hello","namespace":"default"},
   "statusFeedback":{"values":[{"name":"ReadyReplicas","fieldValue":{"type":"Integer","integer":1}},
     {"name":"isAvailable","fieldValue":{"type":"String","string":"True"}},
     {"name":"paused","fieldValue":{"type":"Boolean","boolean":False}},
     {"name":"selector","fieldValue":{"type":"JsonRaw","jsonRaw":"{\"matchLabels\":{\"app\":\"hello\"}}"}}]},
   "conditions":[{"type":"Applied","status":"True","reason":"AppliedManifestComplete","message":"Apply manifest complete","lastTransitionTime":"2026-11-27T05:11:35Z"},
    {"type":"StatusFeedbackSynced","status":"True","reason":"StatusFeedbackSynced","lastTransitionTime":"2026-11-27T05:11:40Z"}]}]}}
import hashlib
def shash(d): return hashlib.sha256(json.dumps(d,separators=(',',':'),sort_keys=True,ensure_ascii=False).encode()).hexdigest()
HASH=shash(status)
deleted={"conditions":[{"type":"Deleted","status":"True","reason":"ManifestWorkDeleted"}]}
ev={
 'spec-create': env(MB+'.spec.create_request','a1',hub,bundle,clustername='cluster1',resourceid=UID,resourceversion=1),
 'spec-update': env(MB+'.spec.update_request','a2',hub,bundle_full,clustername='cluster1',resourceid=UID,resourceversion=2,metadata=meta,originalsource='nave-hub-0'),
 'spec-update-deleting': env(MB+'.spec.update_request','a3',hub,bundle,clustername='cluster1',resourceid=UID,resourceversion=2,deletiontimestamp='2026-11-27T06:00:00Z'),
 'spec-delete': env(MB+'.spec.delete_request','a4',hub,None,clustername='cluster1',resourceid=UID,resourceversion=3,deletiontimestamp='2026-11-27T06:00:00.5+01:00'),
 'spec-resync-request': env(MB+'.spec.resync_request','b1',ag,{"resourceVersions":[{"resourceID":UID,"resourceVersion":2},{"resourceID":UID2,"resourceVersion":7}]},clustername='cluster1'),
 'spec-resync-request-empty': env(MB+'.spec.resync_request','b2',ag,{"resourceVersions":[]},clustername='cluster1'),
 'spec-resync-response': env(MB+'.spec.resync_response','a5',hub,bundle,clustername='cluster1',resourceid=UID,resourceversion="3"),
 'spec-resync-response-delete': env(MB+'.spec.resync_response','a6',hub,None,clustername='cluster1',resourceid=UID2,resourceversion=7,deletiontimestamp='2026-11-27T06:00:00Z'),
 'status-update': env(MB+'.status.update_request','c1',ag,status,clustername='cluster1',resourceid=UID,resourceversion=2,sequenceid="1764220295123456",statushash=HASH),
 'status-update-deleted': env(MB+'.status.update_request','c2',ag,deleted,clustername='cluster1',resourceid=UID,resourceversion=3,sequenceid=42,statushash=shash(deleted),deletiontimestamp='2026-11-27T06:00:01Z'),
 'status-resync-request': env(MB+'.status.resync_request','a7',hub,{"statusHashes":[{"resourceID":UID,"statusHash":HASH}]},clustername='cluster1'),
 'status-resync-response': env(MB+'.status.resync_response','c3',ag,status,clustername='cluster1',resourceid=UID,resourceversion=2,sequenceid="18446744073709551615",statushash=HASH),
 'status-ack': env('io.nave.works.v1.manifestbundles.status.ack','a8',hub,None,clustername='cluster1',resourceid=UID,sequenceid="1764220295123456"),
 'heartbeat-hub': env('io.open-cluster-management.cloudevents.heartbeat','a9',hub),
 'heartbeat-agent': env('io.open-cluster-management.cloudevents.heartbeat','c4',ag,None,clustername='cluster1'),
 'hello-agent': env('io.nave.stream.v1.hello','c0',ag,{"protocolVersion":"1.0","software":"nave-klusterlet 0.1.0"},clustername='cluster1'),
 'hello-hub': env('io.nave.stream.v1.hello','a0',hub,{"protocolVersion":"1.3","software":"nave-hub 0.2.0","heartbeatSeconds":10},clustername='cluster1'),
 'error': env('io.nave.stream.v1.error','a10',hub,{"code":"UnknownEventType","message":"type: unknown event type \"io.example.foo\"","eventID":"c9","eventType":"io.example.foo","fatal":False}),
 'lease': env('io.nave.clusters.v1.leases.update_request','c5',ag,{"leaseDurationSeconds":60,"clusterClaims":[{"name":"kubeversion.open-cluster-management.io","value":"v1.32.0"},{"name":"platform.open-cluster-management.io","value":"kubesim"}],"conditions":[{"type":"ManagedClusterConditionAvailable","status":"True","reason":"ManagedClusterAvailable"}]},clustername='cluster1'),
 'cert-renew-request': env('io.nave.clusters.v1.certificates.renew_request','c6',ag,{"request":csr},clustername='cluster1'),
 'cert-renew-response': env('io.nave.clusters.v1.certificates.renew_response','a11',hub,{"requestID":"c6","certificate":crt},clustername='cluster1'),
}
for k,v in ev.items():
    with open(os.path.join(D,k+'.json'),'w') as f:
        json.dump(v,f,indent=2); f.write('\n')
print('good:', len(ev))

# ---- malformed cases ----
G=os.path.join(HERE,'good')
D=os.path.join(HERE,'bad')
for f in os.listdir(D): os.remove(os.path.join(D,f))
def load(n): return json.load(open(os.path.join(G,n+'.json')))
cases=[]
def put(name, obj, errno, field, raw=None):
    p=os.path.join(D,name+'.json')
    if raw is not None:
        open(p,'wb').write(raw if isinstance(raw,bytes) else raw.encode())
    else:
        with open(p,'w') as f: json.dump(obj,f,separators=(',',':') if len(json.dumps(obj))>1500 else None, indent=None if len(json.dumps(obj))>1500 else 1); f.write('\n')
    cases.append((name+'.json',errno,field))
def mut(base, fn):
    o=load(base); fn(o); return o
def dele(k): return lambda o: o.pop(k)
def setk(k,v):
    def f(o): o[k]=v
    return f
UID2='0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'
put('bad-json',None,'EBADMSG','event',raw='{"specversion": "1.0", "id": ')
put('empty',None,'EBADMSG','event',raw='')
put('not-object',None,'EINVAL','event',raw='[1, 2, 3]\n')
put('duplicate-key',None,'EBADMSG','event',raw='{"specversion":"1.0","id":"x","source":"s","type":"io.open-cluster-management.cloudevents.heartbeat","type":"io.nave.stream.v1.hello"}\n')
put('string-with-nul',None,'EBADMSG','event',raw='{"specversion":"1.0","id":"x\\u0000y","source":"s","type":"io.open-cluster-management.cloudevents.heartbeat"}\n')
put('invalid-utf8',None,'EBADMSG','event',raw=b'{"specversion":"1.0","id":"x","source":"s\xff\xfe","type":"io.open-cluster-management.cloudevents.heartbeat"}\n')
put('big-integer',None,'EBADMSG','event',raw=json.dumps(load('spec-create')).replace('"resourceversion": 1','"resourceversion": 1000000000000000000000000000000'))
put('missing-specversion',mut('heartbeat-hub',dele('specversion')),'EINVAL','specversion')
put('bad-specversion',mut('heartbeat-hub',setk('specversion','0.3')),'EPROTONOSUPPORT','specversion')
put('specversion-number',mut('heartbeat-hub',setk('specversion',1.0)),'EINVAL','specversion')
put('missing-id',mut('heartbeat-hub',dele('id')),'EINVAL','id')
put('empty-id',mut('heartbeat-hub',setk('id','')),'EINVAL','id')
put('id-with-space',mut('heartbeat-hub',setk('id','a b')),'EINVAL','id')
put('id-too-long',mut('heartbeat-hub',setk('id','x'*200)),'E2BIG','id')
put('missing-source',mut('heartbeat-hub',dele('source')),'EINVAL','source')
put('source-object',mut('heartbeat-hub',setk('source',{"a":1})),'EINVAL','source')
put('missing-type',mut('heartbeat-hub',dele('type')),'EINVAL','type')
put('unknown-type',mut('heartbeat-hub',setk('type','io.example.foo.created')),'ENOTSUP','type')
put('unknown-ocm-type',mut('heartbeat-hub',setk('type','io.open-cluster-management.works.v1alpha1.manifestbundles.status.delete_request')),'ENOTSUP','type')
put('type-number',mut('heartbeat-hub',setk('type',7)),'EINVAL','type')
put('bad-datacontenttype',mut('hello-agent',setk('datacontenttype','text/plain')),'EINVAL','datacontenttype')
put('data-base64',mut('hello-agent',setk('data_base64','eyJhIjoxfQ==')),'EINVAL','data_base64')
put('bad-time',mut('heartbeat-hub',setk('time','yesterday')),'EINVAL','time')
put('time-out-of-range',mut('heartbeat-hub',setk('time','1960-01-01T00:00:00Z')),'EINVAL','time')
put('spec-missing-clustername',mut('spec-create',dele('clustername')),'EINVAL','clustername')
put('spec-bad-clustername',mut('spec-create',setk('clustername','Cluster_1')),'EINVAL','clustername')
put('spec-missing-resourceid',mut('spec-create',dele('resourceid')),'EINVAL','resourceid')
put('spec-bad-resourceid',mut('spec-create',setk('resourceid','5F0C2E1A-3B4D-4E5F-8A9B-0C1D2E3F4A5B')),'EINVAL','resourceid')
put('spec-resourceid-number',mut('spec-create',setk('resourceid',12)),'EINVAL','resourceid')
put('spec-missing-resourceversion',mut('spec-create',dele('resourceversion')),'EINVAL','resourceversion')
put('spec-negative-resourceversion',mut('spec-create',setk('resourceversion',-1)),'EINVAL','resourceversion')
put('spec-resourceversion-real',mut('spec-create',setk('resourceversion',1.5)),'EINVAL','resourceversion')
put('spec-resourceversion-bad-string',mut('spec-create',setk('resourceversion','12a')),'EINVAL','resourceversion')
put('spec-missing-data',mut('spec-create',dele('data')),'EINVAL','data')
put('spec-data-array',mut('spec-create',setk('data',[1])),'EINVAL','data')
def f(o): o['data'].pop('manifests')
put('spec-missing-manifests',mut('spec-create',f),'EINVAL','data.manifests')
def f(o): o['data']['manifests']={"a":1}
put('spec-manifests-object',mut('spec-create',f),'EINVAL','data.manifests')
def f(o): o['data']['manifests'][1].pop('kind')
put('spec-manifest-missing-kind',mut('spec-create',f),'EINVAL','data.manifests[1].kind')
def f(o): o['data']['manifests'][0]['metadata'].pop('name')
put('spec-manifest-missing-name',mut('spec-create',f),'EINVAL','data.manifests[0].metadata.name')
def f(o): o['data']['manifests'][0]['metadata']['namespace']=5
put('spec-manifest-namespace-number',mut('spec-create',f),'EINVAL','data.manifests[0].metadata.namespace')
def f(o): o['data']['manifests'][1]="apps/v1 Deployment"
put('spec-manifest-string',mut('spec-create',f),'EINVAL','data.manifests[1]')
def f(o): o['data']['manifests']=[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c%d"%i}} for i in range(501)]
put('spec-too-many-manifests',mut('spec-create',f),'E2BIG','data.manifests')
def f(o): o['data']['deleteOption']['propagationPolicy']='Background'
put('spec-bad-propagation',mut('spec-update',f),'EINVAL','data.deleteOption.propagationPolicy')
def f(o): o['data']['deleteOption']['ttlSecondsAfterFinished']=-5
put('spec-bad-ttl',mut('spec-update',f),'EINVAL','data.deleteOption.ttlSecondsAfterFinished')
def f(o): o['data']['manifestConfigs'][0]['updateStrategy']['type']='Replace'
put('spec-bad-update-strategy',mut('spec-update',f),'EINVAL','data.manifestConfigs[0].updateStrategy.type')
def f(o): o['data']['manifestConfigs'][0]['feedbackRules'][1].pop('jsonPaths')
put('spec-jsonpaths-missing',mut('spec-update',f),'EINVAL','data.manifestConfigs[0].feedbackRules[1].jsonPaths')
def f(o): o['data']['manifestConfigs'][0]['resourceIdentifier'].pop('resource')
put('spec-identifier-missing-resource',mut('spec-update',f),'EINVAL','data.manifestConfigs[0].resourceIdentifier.resource')
def f(o): o['data']['manifestConfigs'][0]['updateStrategy']['serverSideApply']['force']="yes"
put('spec-ssa-force-string',mut('spec-update',f),'EINVAL','data.manifestConfigs[0].updateStrategy.serverSideApply.force')
def f(o): o['data']['executor']['subject']['type']='User'
put('spec-bad-executor',mut('spec-update',f),'EINVAL','data.executor.subject.type')
put('spec-delete-missing-deletiontimestamp',mut('spec-delete',dele('deletiontimestamp')),'EINVAL','deletiontimestamp')
put('spec-bad-deletiontimestamp',mut('spec-delete',setk('deletiontimestamp','2026-13-01T00:00:00Z')),'EINVAL','deletiontimestamp')
put('spec-resync-response-no-data',mut('spec-resync-response',dele('data')),'EINVAL','data')
put('metadata-not-json',mut('spec-update',setk('metadata','{name: x}')),'EINVAL','metadata')
put('metadata-object',mut('spec-update',setk('metadata',{"name":"x"})),'EINVAL','metadata')
put('metadata-labels-number',mut('spec-update',setk('metadata','{"name":"w","labels":{"app":1}}')),'EINVAL','metadata.labels.app')
deep={"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"}}
x=deep
for i in range(200):
    x['d']={}; x=x['d']
def f(o): o['data']['manifests']=[deep]
put('too-deep',mut('spec-create',f),'E2BIG','data.manifests[0].d.d.d')
put('status-missing-sequenceid',mut('status-update',dele('sequenceid')),'EINVAL','sequenceid')
put('status-sequenceid-zero',mut('status-update',setk('sequenceid','0')),'EINVAL','sequenceid')
put('status-sequenceid-leading-zero',mut('status-update',setk('sequenceid','007')),'EINVAL','sequenceid')
put('status-sequenceid-overflow',mut('status-update',setk('sequenceid','18446744073709551616')),'EINVAL','sequenceid')
put('status-sequenceid-negative',mut('status-update',setk('sequenceid',-1)),'EINVAL','sequenceid')
put('status-sequenceid-bool',mut('status-update',setk('sequenceid',True)),'EINVAL','sequenceid')
put('status-missing-statushash',mut('status-update',dele('statushash')),'EINVAL','statushash')
put('status-short-statushash',mut('status-update',setk('statushash','a'*63)),'EINVAL','statushash')
put('status-uppercase-statushash',mut('status-update',setk('statushash','A'*64)),'EINVAL','statushash')
def f(o): o['data']['conditions'][0]['status']='Yes'
put('status-condition-bad-status',mut('status-update',f),'EINVAL','data.conditions[0].status')
def f(o): o['data']['conditions'][1].pop('type')
put('status-condition-missing-type',mut('status-update',f),'EINVAL','data.conditions[1].type')
def f(o): o['data']['conditions'][0]['lastTransitionTime']='now'
put('status-condition-bad-time',mut('status-update',f),'EINVAL','data.conditions[0].lastTransitionTime')
def f(o): o['data']['conditions']=[{"type":"T%d"%i,"status":"True"} for i in range(33)]
put('status-too-many-conditions',mut('status-update',f),'E2BIG','data.conditions')
def f(o): o['data']['resourceStatus']['manifests'][1]['statusFeedback']['values'][0]['fieldValue']={"type":"Integer","string":"1"}
put('status-feedback-type-mismatch',mut('status-update',f),'EINVAL','data.resourceStatus.manifests[1].statusFeedback.values[0].fieldValue.string')
def f(o): o['data']['resourceStatus']['manifests'][1]['statusFeedback']['values'][0]['fieldValue']={"type":"Integer"}
put('status-feedback-missing-value',mut('status-update',f),'EINVAL','data.resourceStatus.manifests[1].statusFeedback.values[0].fieldValue.integer')
def f(o): o['data']['resourceStatus']['manifests'][1]['statusFeedback']['values'][0]['fieldValue']={"type":"Float","integer":1}
put('status-feedback-bad-type',mut('status-update',f),'EINVAL','data.resourceStatus.manifests[1].statusFeedback.values[0].fieldValue.type')
def f(o): o['data']['resourceStatus']['manifests'][1]['statusFeedback']['values'][3]['fieldValue']['jsonRaw']='"'+'x'*1030+'"'
put('status-feedback-raw-too-big',mut('status-update',f),'E2BIG','data.resourceStatus.manifests[1].statusFeedback.values[3].fieldValue.jsonRaw')
def f(o): o['data']['resourceStatus']['manifests'][1]['statusFeedback']['values'][3]['fieldValue']['jsonRaw']='{"a":'
put('status-feedback-raw-invalid',mut('status-update',f),'EINVAL','data.resourceStatus.manifests[1].statusFeedback.values[3].fieldValue.jsonRaw')
def f(o): o['data']['resourceStatus']['manifests'][1]['statusFeedback']['values'][1]['fieldValue']['string']='s'*1025
put('status-feedback-string-too-big',mut('status-update',f),'E2BIG','data.resourceStatus.manifests[1].statusFeedback.values[1].fieldValue.string')
def f(o): o['data']['resourceStatus']['manifests'][1]['statusFeedback']['values']=[{"name":"v%d"%i,"fieldValue":{"type":"Integer","integer":i}} for i in range(65)]
put('status-too-many-feedback-values',mut('status-update',f),'E2BIG','data.resourceStatus.manifests[1].statusFeedback.values')
def f(o): o['data']['resourceStatus']['manifests'][0].pop('resourceMeta')
put('status-missing-resourcemeta',mut('status-update',f),'EINVAL','data.resourceStatus.manifests[0].resourceMeta')
def f(o): o['data']['resourceStatus']['manifests'][0]['resourceMeta']['ordinal']=500
put('status-bad-ordinal',mut('status-update',f),'EINVAL','data.resourceStatus.manifests[0].resourceMeta.ordinal')
def f(o): o['data']['resourceVersions'].append(o['data']['resourceVersions'][0])
put('resync-duplicate-ids',mut('spec-resync-request',f),'EINVAL','data.resourceVersions')
def f(o): o['data']['resourceVersions'][1]['resourceID']='not-a-uuid'
put('resync-bad-id',mut('spec-resync-request',f),'EINVAL','data.resourceVersions[1].resourceID')
def f(o): o['data']['resourceVersions'][0]['resourceVersion']='2'
put('resync-version-string',mut('spec-resync-request',f),'EINVAL','data.resourceVersions[0].resourceVersion')
put('resync-missing-list',mut('spec-resync-request',setk('data',{})),'EINVAL','data.resourceVersions')
def f(o): o['data']['statusHashes'][0]['statusHash']='xyz'
put('resync-bad-hash',mut('status-resync-request',f),'EINVAL','data.statusHashes[0].statusHash')
put('ack-missing-sequenceid',mut('status-ack',dele('sequenceid')),'EINVAL','sequenceid')
put('ack-missing-resourceid',mut('status-ack',dele('resourceid')),'EINVAL','resourceid')
def f(o): o['data']['protocolVersion']='1'
put('hello-bad-version',mut('hello-agent',f),'EINVAL','data.protocolVersion')
def f(o): o['data']['protocolVersion']='01.0'
put('hello-version-leading-zero',mut('hello-agent',f),'EINVAL','data.protocolVersion')
def f(o): o['data']['heartbeatSeconds']=0
put('hello-bad-heartbeat',mut('hello-hub',f),'EINVAL','data.heartbeatSeconds')
put('hello-missing-data',mut('hello-agent',dele('data')),'EINVAL','data')
def f(o): o['data']['code']='Bad Code'
put('error-bad-code',mut('error',f),'EINVAL','data.code')
def f(o): o['data'].pop('message')
put('error-missing-message',mut('error',f),'EINVAL','data.message')
def f(o): o['data']['fatal']='no'
put('error-fatal-string',mut('error',f),'EINVAL','data.fatal')
def f(o): o['data']['leaseDurationSeconds']=0
put('lease-bad-duration',mut('lease',f),'EINVAL','data.leaseDurationSeconds')
def f(o): o['data']['clusterClaims'][0]['name']='Bad Claim!'
put('lease-bad-claim-name',mut('lease',f),'EINVAL','data.clusterClaims[0].name')
def f(o): o['data']['clusterClaims']=[{"name":"c%d.example.com"%i,"value":"v"} for i in range(65)]
put('lease-too-many-claims',mut('lease',f),'E2BIG','data.clusterClaims')
def f(o): o['data']['request']='hello'
put('cert-request-not-pem',mut('cert-renew-request',f),'EINVAL','data.request')
def f(o): o['data']['certificate']=load('cert-renew-request')['data']['request']
put('cert-response-wrong-label',mut('cert-renew-response',f),'EINVAL','data.certificate')
def f(o): o['data']['certificate']=o['data']['certificate'].replace('-----END CERTIFICATE-----','',1)
put('cert-response-truncated',mut('cert-renew-response',f),'EINVAL','data.certificate')
def f(o): o['data'].pop('requestID')
put('cert-response-missing-request-id',mut('cert-renew-response',f),'EINVAL','data.requestID')
with open(os.path.join(D,'cases.txt'),'w') as f:
    f.write('# Malformed events: FILE EXPECTED-ERRNO FIELD\n# proto_event_decode() must return -ERRNO and a message "PATH: ..." where PATH\n# is FIELD or lies under it (FIELD.x, FIELD[i]).\n')
    for c in cases: f.write('%s %s %s\n'%c)
print('bad:', len(cases))
