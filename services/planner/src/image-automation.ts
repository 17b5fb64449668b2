import type { Bus } from '@flotilla/bus';
import { FlotillaError } from '@flotilla/errors';
import {
  type EventOf,
  type FlotillaEvent,
  type ImageTagDetected,
  ImageUpdateCommitted,
} from '@flotilla/events';
import { firstStage, type ImageSpec, type Pipeline, type Stage, selectLatestTag } from '@flotilla/policy';
import type { Logger } from '@flotilla/runtime';
import { type ConfigWriter, nothingToCommit } from './config-writer.ts';
import { rewriteImages } from './image-refs.ts';
import type { PipelineScope } from './pipeline-scope.ts';
import type { PlannerState } from './state.ts';

export interface ImageAutomationDeps {
  scope: PipelineScope;
  bus: Bus;
  state: PlannerState;
  writer: ConfigWriter;
  logger: Logger;
  /** After a commit was pushed, renders it without waiting for the git-watcher; its plans continue `cause`'s correlation and trace. */
  afterPush(cause?: FlotillaEvent): Promise<void>;
}

/**
 * New registry tags into the first stage: remembers tag → digest, and when a tag is the newest
 * for an image policy of the pipeline, commits it into the first stage's marked fields.
 */
export class ImageAutomation {
  private readonly log: Logger;

  constructor(private readonly d: ImageAutomationDeps) {
    this.log = d.logger.child({ component: 'image-automation' });
  }

  /** `seq`: the report's event-stream sequence, which orders reports of a moved tag (withTag). */
  async onImageTag(
    e: EventOf<typeof ImageTagDetected>,
    pipeline: Pipeline | null,
    seq?: number,
  ): Promise<void> {
    if (!pipeline)
      throw new FlotillaError('planner.no-pipeline', 'no valid pipeline yet', { disposition: 'retry' });
    const policies = (pipeline.spec.images ?? []).filter((i) => i.repository === e.data.image);
    if (policies.length === 0) return;
    const { state } = this.d;
    let known = state.tags.get(e.data.image) ?? { image: e.data.image, tags: {} };
    if (known.tags[e.data.tag] !== e.data.digest) {
      known = await state.recordTag(e.data.image, e.data.tag, e.data.digest, seq);
      // A later report of this tag is on record (this one was redelivered after it, or held by an
      // instance paused meanwhile): acting on it would move the tag back in the config repo.
      if (known.tags[e.data.tag] !== e.data.digest) {
        this.log.info(
          { image: e.data.image, tag: e.data.tag, digest: e.data.digest, recorded: known.tags[e.data.tag] },
          'a later report of this tag is on record; older report ignored',
        );
        return;
      }
    }
    const first = firstStage(pipeline);
    for (const policy of policies) {
      const latest = selectLatestTag(
        { policy: policy.policy, ...(policy.filterTags ? { filterTags: policy.filterTags } : {}) },
        Object.keys(known.tags),
      );
      if (latest?.tag !== e.data.tag) {
        this.log.info(
          { policy: policy.name, tag: e.data.tag, latest: latest?.tag },
          'tag is not the latest for policy; ignored',
        );
        continue;
      }
      if (state.stage(first.name).locked) {
        this.log.info({ stage: first.name, tag: e.data.tag }, 'first stage is locked; new image ignored');
        continue;
      }
      await this.commitImageUpdate(e, policy, first);
    }
  }

  private async commitImageUpdate(
    e: EventOf<typeof ImageTagDetected>,
    policy: ImageSpec,
    stage: Stage,
  ): Promise<void> {
    const { writer } = this.d;
    const ref = `${e.data.image}:${e.data.tag}@${e.data.digest}`;
    const { scope } = this.d;
    // The same registry event may update several pipelines: outside the root pipeline the
    // idempotency key names the pipeline too.
    const key: [string, string] = scope.root
      ? ['Flotilla-Event', e.id]
      : ['Flotilla-Update', `${scope.name}/${e.id}`];
    // Begun on a head the remote moved past, the update is made again from the remote's.
    const made = await writer.change(async () => {
      let sha = await writer.begin(key);
      let files: string[] = [];
      if (!sha) {
        const changes = rewriteImages(await writer.yamlFilesUnder(stage.clusters.map((c) => c.path)), [
          {
            policy: policy.name,
            repository: e.data.image,
            tag: e.data.tag,
            digest: e.data.digest,
            pin: policy.digestPin ?? true,
          },
        ]);
        if (changes.length === 0) {
          await writer.confirmBase();
          this.log.info({ stage: stage.name, ref }, 'first stage already has this image');
          return null;
        }
        for (const c of changes) await writer.writeFile(c.path, c.text);
        files = changes.map((c) => c.path);
        sha = await writer.commitAndPush({
          pipeline: this.d.scope.name,
          message: [
            `flotilla: update ${policy.name} to ${e.data.tag} in ${stage.name}`,
            '',
            `New tag ${e.data.tag} of ${e.data.image} is the latest for image policy ${policy.name}.`,
            '',
            ...changes.flatMap((c) => c.changes.map((x) => `- ${c.path}:${x.line}: ${x.old} -> ${x.new}`)),
          ].join('\n'),
          trailers: {
            'Flotilla-Event': e.id,
            'Flotilla-Image': ref,
            'Flotilla-Policy': policy.name,
            'Flotilla-Stage': stage.name,
            ...(scope.root ? {} : { 'Flotilla-Pipeline': scope.name, 'Flotilla-Update': key[1] }),
            'Flotilla-Actor': e.actor,
          },
          key,
          traceparent: e.traceparent,
        });
        if (!sha) throw nothingToCommit();
      }
      return { sha, files };
    });
    if (!made) return;
    const { sha, files } = made;
    const { event: committed } = await this.d.bus.publish(
      ImageUpdateCommitted,
      {
        ...scope.field,
        stage: stage.name,
        policy: policy.name,
        image: e.data.image,
        tag: e.data.tag,
        digest: e.data.digest,
        commit: sha,
        files,
      },
      { cause: e, id: `image-update-${scope.idPrefix}${e.id}-${policy.name}` },
    );
    this.log.info({ stage: stage.name, ref, commit: sha }, 'image update committed');
    await this.d.afterPush(committed);
  }
}
