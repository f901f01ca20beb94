#!/usr/bin/env bash
# The offline plan report of a pull request: `llmdeploy plan` and `llmdeploy check` of each
# stack for the base and the head, then `llmdeploy diff`, gathered into one markdown comment.
#
#   offline-plan.sh BASE_DIR HEAD_DIR OUT_DIR [STACK...]     (stacks default: dev staging prod)
#
# Each side is planned by its own llmdeploy (BASE_LLMDEPLOY / HEAD_LLMDEPLOY, default
# DIR/.venv/bin/llmdeploy), so a change to the engine catalogue or to the plan code shows up as
# a change. It needs no cloud, no Pulumi CLI and no secret: `secure:` config is never decrypted.
#
# Writes OUT_DIR/comment.md (starting with the marker the comment workflow looks for),
# OUT_DIR/{base,head}/STACK.{plan,check}.json, and OUT_DIR/blocking: one line per head stack
# that fails to plan or has a mandatory policy violation (empty when none). Exits 0 once the
# report is written, whatever the stacks did, so the report is always posted.
set -euo pipefail

MARKER='<!-- llmdeploy-offline-plan -->'
ERROR_LINES=40

if [ $# -lt 3 ]; then
  echo "usage: $0 BASE_DIR HEAD_DIR OUT_DIR [STACK...]" >&2
  exit 2
fi
base_dir=$(cd "$1" && pwd)
head_dir=$(cd "$2" && pwd)
mkdir -p "$3/base" "$3/head"
out_dir=$(cd "$3" && pwd)
shift 3
stacks=("$@")
if [ ${#stacks[@]} -eq 0 ]; then
  stacks=(dev staging prod)
fi
base_llmdeploy=${BASE_LLMDEPLOY:-$base_dir/.venv/bin/llmdeploy}
head_llmdeploy=${HEAD_LLMDEPLOY:-$head_dir/.venv/bin/llmdeploy}
comment=$out_dir/comment.md
blocking=$out_dir/blocking
: >"$blocking"

side_dir() { if [ "$1" = base ]; then echo "$base_dir"; else echo "$head_dir"; fi; }
side_llmdeploy() { if [ "$1" = base ]; then echo "$base_llmdeploy"; else echo "$head_llmdeploy"; fi; }

# html_pre FILE: the first lines of FILE as an HTML <pre> block (text from the pull request).
html_pre() {
  printf '<pre>\n'
  head -n "$ERROR_LINES" "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'
  printf '</pre>\n'
}

# plan SIDE STACK -> 0 planned, 3 no Pulumi.STACK.yaml on that side (an empty plan is written),
# 1 failed (the error is in SIDE/STACK.plan.err).
plan() {
  local side=$1 stack=$2 dir llmdeploy
  dir=$(side_dir "$side")
  llmdeploy=$(side_llmdeploy "$side")
  if [ ! -f "$dir/Pulumi.$stack.yaml" ]; then
    printf '{"stack": "%s", "project": "", "resources": [], "outputs": {}}\n' "$stack" \
      >"$out_dir/$side/$stack.plan.json"
    return 3
  fi
  if (cd "$dir" && "$llmdeploy" plan "$stack" --program . --format json) \
    >"$out_dir/$side/$stack.plan.json" 2>"$out_dir/$side/$stack.plan.err"; then
    return 0
  fi
  return 1
}

# check SIDE STACK -> 0 no mandatory violation, 4 mandatory violations, 3 the side's llmdeploy
# has no `check` command, 1 failed. Results in SIDE/STACK.check.json.
check() {
  local side=$1 stack=$2 dir llmdeploy status=0
  dir=$(side_dir "$side")
  llmdeploy=$(side_llmdeploy "$side")
  if ! "$llmdeploy" check --help >/dev/null 2>&1; then
    return 3
  fi
  (cd "$dir" && "$llmdeploy" check "$stack" --program . --format json) \
    >"$out_dir/$side/$stack.check.json" 2>"$out_dir/$side/$stack.check.err" || status=$?
  case $status in
    0) return 0 ;;
    1) return 4 ;; # `llmdeploy check` exits 1 on a mandatory violation
    *) return 1 ;;
  esac
}

short_sha() { git -C "$1" rev-parse --short HEAD 2>/dev/null || echo "working tree"; }

{
  echo "$MARKER"
  echo "## Offline plan: what this pull request changes"
  echo
  echo "Base \`$(short_sha "$base_dir")\` → head \`$(short_sha "$head_dir")\`, planned with \`llmdeploy plan\`" \
    "under Pulumi's mock monitor: no cloud, no credentials. Values known only after a deploy show as" \
    "\`[computed]\`, secrets as \`[secret]\`. Whether a provider updates in place or replaces is" \
    "up to the provider: pull requests from this repository also get a \`pulumi preview\` per stack."
  echo
} >"$comment"

for stack in "${stacks[@]}"; do
  base_status=0 head_status=0
  plan base "$stack" || base_status=$?
  plan head "$stack" || head_status=$?

  if [ "$base_status" -eq 3 ] && [ "$head_status" -eq 3 ]; then
    printf '<details><summary><b>%s</b>: no Pulumi.%s.yaml in base or head, nothing to plan</summary></details>\n\n' \
      "$stack" "$stack" >>"$comment"
    continue
  fi
  if [ "$head_status" -eq 1 ] || [ "$base_status" -eq 1 ]; then
    failed="head"
    if [ "$head_status" -ne 1 ]; then failed="base"; fi
    if [ "$failed" = head ]; then echo "$stack: the head plan failed" >>"$blocking"; fi
    {
      printf '<details open><summary><b>%s</b>: ❌ the %s plan failed</summary>\n\n' "$stack" "$failed"
      html_pre "$out_dir/$failed/$stack.plan.err"
      printf '\n</details>\n\n'
    } >>"$comment"
    continue
  fi

  check_args=()
  notes=()
  if [ "$base_status" -eq 3 ]; then notes+=("new stack: no Pulumi.$stack.yaml in the base"); fi
  if [ "$head_status" -eq 3 ]; then notes+=("stack removed: no Pulumi.$stack.yaml in the head"); fi
  head_check=0 base_check=0
  if [ "$head_status" -eq 0 ]; then check head "$stack" || head_check=$?; else head_check=3; fi
  if [ "$base_status" -eq 0 ]; then check base "$stack" || base_check=$?; else base_check=3; fi
  case $head_check in
    0 | 4)
      check_args+=(--head-check "$out_dir/head/$stack.check.json")
      if [ "$base_check" -eq 0 ] || [ "$base_check" -eq 4 ]; then
        check_args+=(--base-check "$out_dir/base/$stack.check.json")
      elif [ "$base_status" -eq 0 ]; then
        notes+=("no policy results for the base (its \`llmdeploy check\` is missing or failed): head results shown alone")
      fi
      if [ "$head_check" -eq 4 ]; then echo "$stack: mandatory policy violations in the head" >>"$blocking"; fi
      ;;
    3) if [ "$head_status" -eq 0 ]; then notes+=("policies not checked: the head has no \`llmdeploy check\`"); fi ;;
    *)
      notes+=("policy check failed in the head (below)")
      echo "$stack: the head policy check failed" >>"$blocking"
      ;;
  esac

  "$head_llmdeploy" diff "$out_dir/base/$stack.plan.json" "$out_dir/head/$stack.plan.json" \
    "${check_args[@]}" --format markdown >"$out_dir/$stack.diff.md" 2>"$out_dir/$stack.diff.err" ||
    {
      printf '<details open><summary><b>%s</b>: ❌ llmdeploy diff failed</summary>\n\n' "$stack"
      html_pre "$out_dir/$stack.diff.err"
      printf '\n</details>\n'
    } >"$out_dir/$stack.diff.md"
  # The notes go inside the stack's section, after its summary line.
  {
    head -n 1 "$out_dir/$stack.diff.md"
    if [ ${#notes[@]} -gt 0 ]; then
      echo
      for note in "${notes[@]}"; do echo "> $note"; done
    fi
    if [ "$head_check" -eq 1 ]; then
      echo
      html_pre "$out_dir/head/$stack.check.err"
    fi
    tail -n +2 "$out_dir/$stack.diff.md"
    echo
  } >>"$comment"
done

if [ -s "$blocking" ]; then
  {
    echo "**Blocking:**"
    echo
    sed 's/^/- /' "$blocking"
  } >>"$comment"
fi
