{{/*
The chart name, or nameOverride.
*/}}
{{- define "corridor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of every object: fullnameOverride, else the release name when it already contains the
chart name (release "corridor" -> "corridor"), else "<release>-<chart>". 63 characters at most.
*/}}
{{- define "corridor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "corridor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "corridor.labels" -}}
helm.sh/chart: {{ include "corridor.chart" . }}
{{ include "corridor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: metadata-proxy
app.kubernetes.io/part-of: corridor
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels that select the agent's pods (DaemonSet selector, Service, PodMonitor). Never change them
on upgrade: a DaemonSet's selector is immutable.
*/}}
{{- define "corridor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "corridor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The namespace the agent runs in.
*/}}
{{- define "corridor.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{/*
The ServiceAccount the agent runs as.
*/}}
{{- define "corridor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "corridor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The agent's image: repository:tag, tag defaulting to the chart's appVersion; @digest when set.
*/}}
{{- define "corridor.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
The iptables init container's image: the agent's own (one image serves every job) unless
iptables.image overrides it.
*/}}
{{- define "corridor.iptablesImage" -}}
{{- $repository := default .Values.image.repository .Values.iptables.image.repository }}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.iptables.image.tag }}
{{- $digest := .Values.iptables.image.digest }}
{{- if and (not $digest) (not .Values.iptables.image.repository) (not .Values.iptables.image.tag) }}
{{- $digest = .Values.image.digest }}
{{- end }}
{{- if $digest }}
{{- printf "%s:%s@%s" $repository $tag $digest }}
{{- else }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}
{{- end }}

{{/*
The environment variable a flag reads: agent.<camelCase> -> CORRIDOR_<UPPER_SNAKE>, the same rule
as envName() in src/config/flags.ts (sessionDuration -> CORRIDOR_SESSION_DURATION).
*/}}
{{- define "corridor.envName" -}}
{{- printf "CORRIDOR_%s" (regexReplaceAll "([a-z0-9])([A-Z])" . "${1}_${2}" | upper) }}
{{- end }}

{{/*
One env entry per key of .Values.agent that has a value; lists are joined with commas. An empty
string (or null) sets nothing, so the agent's own default applies; an empty list is rendered as
an empty variable, which the agent reads as an empty list.
*/}}
{{/*
"true" when the agent removes a start-up taint: agent.startupTaint is set and the API server has
ValidatingAdmissionPolicy, which confines the node patch RBAC grants (templates/startup-taint.yaml).
*/}}
{{- define "corridor.startupTaint.enabled" -}}
{{- and .Values.rbac.create .Values.agent.startupTaint (.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy") | toString -}}
{{- end }}

{{/*
"true" when the agent requests pods' tokens as its own node: web-identity mode, agent.tokenRequestAsNode,
and Kubernetes 1.36+ (constrained impersonation, impersonate:associated-node, on by default there).
*/}}
{{- define "corridor.tokenRequestAsNode.enabled" -}}
{{- and (eq .Values.agent.credentialMode "web-identity") .Values.agent.tokenRequestAsNode (semverCompare ">=1.36-0" .Capabilities.KubeVersion.Version) | toString -}}
{{- end }}

{{/* agent.tokenExpiration in seconds (as the agent reads it: 90s, 15m, 1h or bare seconds), the admission policy's cap. */}}
{{- define "corridor.tokenExpirationSeconds" -}}
{{- $text := toString (.Values.agent.tokenExpiration | default "10m") -}}
{{- if hasSuffix "h" $text }}{{ mul (trimSuffix "h" $text | atoi) 3600 }}{{ else if hasSuffix "ms" $text }}{{ div (trimSuffix "ms" $text | atoi) 1000 }}{{ else if hasSuffix "m" $text }}{{ mul (trimSuffix "m" $text | atoi) 60 }}{{ else }}{{ trimSuffix "s" $text | atoi }}{{ end -}}
{{- end }}

{{- define "corridor.agentEnv" -}}
{{- $startupTaint := include "corridor.startupTaint.enabled" . }}
{{- $asNode := include "corridor.tokenRequestAsNode.enabled" . }}
{{- range $key, $value := .Values.agent }}
{{- if and (eq $key "startupTaint") (ne $startupTaint "true") }}{{ continue }}{{ end }}
{{- if and (eq $key "tokenRequestAsNode") (eq $.Values.agent.credentialMode "web-identity") (ne $asNode "true") }}{{ continue }}{{ end }}
{{- $text := kindIs "slice" $value | ternary (join "," $value) (toString $value) }}
{{- if or (kindIs "slice" $value) (and (not (kindIs "invalid" $value)) (ne $text "")) }}
- name: {{ include "corridor.envName" $key }}
  value: {{ $text | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The agent's token key directory inside its container (the agent's default when agent.tokenKeyDir is empty). */}}
{{- define "corridor.tokenKeyDir" -}}
{{- .Values.agent.tokenKeyDir | default "/var/lib/corridor" -}}
{{- end }}

{{/*
CORRIDOR_HOST_IPV6 from status.hostIPs ("10.0.1.5,2600:1f18::5"; the Downward API cannot pick one
family, so corridor takes the IPv6 address from the list). Empty output when ipv6.fromHostIPs is off.
*/}}
{{- define "corridor.hostIPv6Env" -}}
{{- if .Values.ipv6.fromHostIPs }}
- name: CORRIDOR_HOST_IPV6
  valueFrom:
    fieldRef:
      fieldPath: status.hostIPs
{{- end }}
{{- end }}

{{/*
Regular expressions (RE2, for CEL's matches()) that say exactly what src/policy/role-arn.ts
accepts: a role ARN, a role name with optional path (leading slashes allowed), and the same two
with `*` (the agent checks a glob by reading every `*` as a name character). Explicit classes
stand for JavaScript's \w ([A-Za-z0-9_]).
*/}}
{{- define "corridor.cel.roleArn" -}}
arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/([A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,64}
{{- end }}
{{- define "corridor.cel.roleName" -}}
/*([A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,64}
{{- end }}
{{- define "corridor.cel.roleArnGlob" -}}
arn:aws(-[a-z*]+)*:iam::[0-9]{12}:role/([A-Za-z0-9_+=,.@*-]+/)*[A-Za-z0-9_+=,.@*-]{1,64}
{{- end }}
{{- define "corridor.cel.roleNameGlob" -}}
/*([A-Za-z0-9_+=,.@*-]+/)*[A-Za-z0-9_+=,.@*-]{1,64}
{{- end }}

{{/*
A role annotation value: a role name or ARN with optional JavaScript whitespace around it (the
agent trims; the Unicode spaces JavaScript also trims are refused here).
*/}}
{{- define "corridor.cel.roleValue" -}}
^[ \t\n\r\f\v]*({{ include "corridor.cel.roleArn" . }}|{{ include "corridor.cel.roleName" . }})[ \t\n\r\f\v]*$
{{- end }}

{{/*
An allowed-roles value, in two steps that keep CEL's cost low on long lists: the shape of a JSON
array of plain strings (JSON whitespace between tokens, no escape sequences, no control
characters), then each string (findAll '"[^"]*"') a role name, ARN or glob with optional spaces
around it.
*/}}
{{- define "corridor.cel.allowedRolesArray" -}}
^[ \t\n\r]*\[[ \t\n\r]*("[^"\\\x00-\x1f]*"[ \t\n\r]*(,[ \t\n\r]*"[^"\\\x00-\x1f]*"[ \t\n\r]*)*)?\][ \t\n\r]*$
{{- end }}
{{- define "corridor.cel.allowedRolesEntry" -}}
^" *({{ include "corridor.cel.roleArnGlob" . }}|{{ include "corridor.cel.roleNameGlob" . }}) *"$
{{- end }}

{{/* The agent's --base-role-arn as it uses it (with the trailing slash it adds), or "". */}}
{{- define "corridor.baseRoleArn" -}}
{{- $base := .Values.agent.baseRoleArn | default "" -}}
{{- if and $base (not (hasSuffix "/" $base)) }}{{ $base }}/{{ else }}{{ $base }}{{ end -}}
{{- end }}

{{/*
A session-policy-arns value, as allowed-roles: the shape of a JSON array of plain strings
(corridor.cel.allowedRolesArray), then each string a managed policy ARN with optional spaces
around it (src/policy/session-policy.ts: customer or AWS managed, optionally under a path).
*/}}
{{- define "corridor.cel.policyArnEntry" -}}
^" *arn:aws(-[a-z]+)*:iam::([0-9]{12}|aws):policy/([A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,128} *"$
{{- end }}

{{/*
A session-policy value, the subset of JSON that CEL can prove the agent accepts, in two regular
expressions (JSON nesting is not regular; IAM's is shallow, so the depth is bounded):

policyDocument, the structure: a JSON object whose members are "Version" (2012-10-17 or
2008-10-17), "Id" (a string) and "Statement" (an object or a non-empty array of objects); a
statement's values are scalars, arrays of scalars, objects of those (Principal) or objects of
such objects (Condition). Strings are plain: no escape sequence, only U+0020-U+00FF (STS's
charset); numbers are integers of at most 15 digits (JSON.stringify writes those as they are, so
the compact size is never more than the raw one). Lists of objects and members take their commas
as optional (`(W X W,?)*`), which keeps one copy of each level instead of two;

jsonSeparators, the commas: read token by token (a string, a run of number or literal
characters, a bracket, `,` or `:`), a value or closing bracket is followed by `,`, `:`, a
closing bracket or the end, and `,` or `:` by a value or an opening bracket. Together they are
the strict grammar: no missing comma between two members, no trailing comma, no empty member.
Both anchor at the start, and outside strings no token holds a `"`, so both read the same tokens.
*/}}
{{- define "corridor.cel.ws" -}}
[ \t\n\r]*
{{- end }}
{{- define "corridor.cel.policyString" -}}
"[ !#-\[\]-\xff]*"
{{- end }}
{{- define "corridor.cel.policyScalar" -}}
({{ include "corridor.cel.policyString" . }}|-?(0|[1-9][0-9]{0,14})|true|false|null)
{{- end }}
{{- define "corridor.cel.policyLeaf" -}}
{{- $w := include "corridor.cel.ws" . -}}
{{- $scalar := include "corridor.cel.policyScalar" . -}}
({{ $scalar }}|\[{{ $w }}({{ $scalar }}({{ $w }},{{ $w }}{{ $scalar }})*{{ $w }})?\])
{{- end }}
{{/* An object of `values` (relaxed commas): `include "corridor.cel.policyObject" (list . values)`. */}}
{{- define "corridor.cel.policyObject" -}}
{{- $w := include "corridor.cel.ws" (index . 0) -}}
\{({{ $w }}{{ include "corridor.cel.policyString" (index . 0) }}{{ $w }}:{{ $w }}{{ index . 1 }}{{ $w }},?)*{{ $w }}\}
{{- end }}
{{- define "corridor.cel.policyStatement" -}}
{{- $leaf := include "corridor.cel.policyLeaf" . -}}
{{- $object1 := include "corridor.cel.policyObject" (list . $leaf) -}}
{{- $object2 := include "corridor.cel.policyObject" (list . (printf "(%s|%s)" $leaf $object1)) -}}
{{- include "corridor.cel.policyObject" (list . (printf "(%s|%s)" $leaf $object2)) -}}
{{- end }}
{{- define "corridor.cel.policyDocument" -}}
{{- $w := include "corridor.cel.ws" . -}}
{{- $statement := include "corridor.cel.policyStatement" . -}}
^{{ $w }}\{({{ $w }}("Version"{{ $w }}:{{ $w }}"(2012-10-17|2008-10-17)"|"Id"{{ $w }}:{{ $w }}{{ include "corridor.cel.policyString" . }}|"Statement"{{ $w }}:{{ $w }}({{ $statement }}|\[({{ $w }}{{ $statement }}{{ $w }},?)+{{ $w }}\])){{ $w }},?)*{{ $w }}\}{{ $w }}$
{{- end }}
{{- define "corridor.cel.jsonSeparators" -}}
{{- $w := include "corridor.cel.ws" . -}}
{{- $item := printf `([{\[]%s)*("[^"]*"|[-0-9a-z]+|[{\[]%s[}\]])(%s[}\]])*` $w $w $w -}}
^{{ $w }}{{ $item }}({{ $w }}[,:]{{ $w }}{{ $item }})*{{ $w }}$
{{- end }}
