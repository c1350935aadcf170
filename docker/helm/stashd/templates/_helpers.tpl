{{- define "stashd.memLimit" -}}
{{- $m := int .Values.memoryMiB -}}
{{- add $m (div (mul $m (int .Values.overheadPercent)) 100) (int .Values.overheadMiB) -}}Mi
{{- end -}}
