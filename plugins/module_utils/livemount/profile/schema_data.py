"""The profile schema as a Python dict, for the stdlib-only engine.

GENERATED from schemas/profile.schema.json (the source of truth) by
`python3 tests/unit/test_schema.py`; do not edit by hand. A unit test checks
that the two are equal.
"""

SCHEMA = {'$schema': 'https://json-schema.org/draft/2020-12/schema',
          '$id': 'https://github.com/livemount/livemount/schemas/profile.schema.json',
          'title': 'livemount profile',
          'description': 'A named set of mounts and symlinks that livemount keeps live: it diffs '
                         'them against /proc/self/mountinfo and applies the difference. The '
                         'profile owns what it mounted under its name; entries removed from it are '
                         'unmounted on the next apply.',
          'type': 'object',
          'additionalProperties': False,
          'required': ['name', 'mounts'],
          'properties': {'name': {'title': 'Profile name',
                                  'description': 'Names the state this profile owns (state file, '
                                                 "lock, journal). Lowercase letters, digits, '_', "
                                                 "'.', '-', starting with a letter or digit.",
                                  'type': 'string',
                                  'pattern': '^[a-z0-9][a-z0-9_.-]*$',
                                  'maxLength': 64,
                                  'examples': ['webapp']},
                         'description': {'title': 'Description',
                                         'description': 'Free text for humans; livemount only '
                                                        'carries it.',
                                         'type': 'string',
                                         'examples': ['data and cache mounts of the web '
                                                      'application']},
                         'on_error': {'title': 'What to do when a step fails',
                                      'description': 'rollback: undo every step of this apply in '
                                                     'reverse and fail. continue: keep what '
                                                     'succeeded, record it, go on with entries '
                                                     'that do not depend on the failed one, and '
                                                     'fail at the end.',
                                      'enum': ['rollback', 'continue'],
                                      'default': 'rollback'},
                         'allowed_roots': {'title': 'Allowed target roots',
                                           'description': 'When given, every entry target must be '
                                                          'one of these absolute paths or lie '
                                                          'below one (path components, not string '
                                                          'prefixes: /srv/app-2 is not under '
                                                          '/srv/app). Absent: no restriction.',
                                           'type': 'array',
                                           'minItems': 1,
                                           'uniqueItems': True,
                                           'items': {'$ref': '#/$defs/path'},
                                           'examples': [['/srv', '/mnt']]},
                         'boot': {'title': 'At boot',
                                  'description': 'How systemd applies this profile at boot once it '
                                                 'is enabled (livemount enable, docs/boot.md): in '
                                                 'its own unit, livemount@NAME.service, after the '
                                                 'filesystems its sources, layers, upper and work '
                                                 'directories and mount points live on. plan and '
                                                 'apply ignore it.',
                                  'type': 'object',
                                  'additionalProperties': False,
                                  'properties': {'stage': {'title': 'Boot stage',
                                                           'description': 'local: applied before '
                                                                          'local-fs.target, so '
                                                                          'every service with '
                                                                          'default dependencies '
                                                                          'starts after it, as '
                                                                          'after a local fstab '
                                                                          'line. remote: after '
                                                                          'network-online.target '
                                                                          'and before '
                                                                          'remote-fs.target, for '
                                                                          'sources on network '
                                                                          'filesystems.',
                                                           'enum': ['local', 'remote'],
                                                           'default': 'local'},
                                                 'required_by': {'title': 'Units that need it',
                                                                 'description': 'Units that start '
                                                                                'after this '
                                                                                'profile and fail '
                                                                                'when it fails '
                                                                                '(RequiredBy= and '
                                                                                'Before=, written '
                                                                                'by the '
                                                                                'generator).',
                                                                 'type': 'array',
                                                                 'uniqueItems': True,
                                                                 'items': {'$ref': '#/$defs/unit'},
                                                                 'examples': [['nginx.service']]},
                                                 'before': {'title': 'Units ordered after it',
                                                            'description': 'Units that start after '
                                                                           'this profile (Before=) '
                                                                           'without failing when '
                                                                           'it fails.',
                                                            'type': 'array',
                                                            'uniqueItems': True,
                                                            'items': {'$ref': '#/$defs/unit'}},
                                                 'after': {'title': 'Units it waits for',
                                                           'description': 'Units this profile '
                                                                          'starts after (After= '
                                                                          'and Wants=), besides '
                                                                          'the filesystems its '
                                                                          'paths live on, which '
                                                                          'are found without being '
                                                                          'listed.',
                                                           'type': 'array',
                                                           'uniqueItems': True,
                                                           'items': {'$ref': '#/$defs/unit'}},
                                                 'timeout': {'title': 'Boot timeout',
                                                             'description': 'Seconds the apply may '
                                                                            'take at boot before '
                                                                            'systemd stops it and '
                                                                            'the boot carries on '
                                                                            'without it '
                                                                            '(TimeoutStartSec=).',
                                                             'type': 'integer',
                                                             'minimum': 1,
                                                             'maximum': 3600,
                                                             'default': 90}}},
                         'mounts': {'title': 'Entries',
                                    'description': 'The desired mounts and symlinks, in any order '
                                                   '(livemount mounts parents before children). An '
                                                   'empty list owns nothing: applying it removes '
                                                   'everything the profile mounted before.',
                                    'type': 'array',
                                    'items': {'$ref': '#/$defs/entry'}}},
          '$defs': {'path': {'title': 'Absolute path',
                             'description': "An absolute path. Cleaned before use ('/t/', '/t/.' "
                                            "and '//t' all mean '/t'); '..' components and control "
                                            'characters other than tab and newline are rejected. '
                                            "Space, tab, newline, backslash, ',' and ':' are fine.",
                             'type': 'string',
                             'pattern': '^/',
                             'maxLength': 4095},
                    'unit': {'title': 'systemd unit name',
                             'description': 'A unit name with its type suffix, such as '
                                            'nginx.service or remote-fs.target; instances and '
                                            'escapes are fine (getty@tty1.service).',
                             'type': 'string',
                             'pattern': '^[A-Za-z0-9:_.@\\\\-]+\\.(service|socket|target|mount|automount|swap|path|timer|slice|scope|device)$',
                             'maxLength': 255},
                    'option': {'title': 'Mount option',
                               'description': 'One option as mount(8) spells it: a word (ro, '
                                              'nosuid, noatime, shared...) or key=value '
                                              '(size=16m). One option per item: the list is the '
                                              "separator, so ',' is rejected.",
                               'type': 'string',
                               'minLength': 1},
                    'forbidden': {'description': 'A field that this entry type does not take.',
                                  'not': {}},
                    'no_layers': {'description': 'Overlay layer fields are only for type overlay.',
                                  'properties': {'lower': {'$ref': '#/$defs/forbidden'},
                                                 'data': {'$ref': '#/$defs/forbidden'},
                                                 'upper': {'$ref': '#/$defs/forbidden'},
                                                 'work': {'$ref': '#/$defs/forbidden'},
                                                 'upper_policy': {'$ref': '#/$defs/forbidden'}}},
                    'entry': {'title': 'Entry',
                              'description': 'One mount (bind, tmpfs, overlay or any kernel '
                                             'filesystem) or symlink.',
                              'type': 'object',
                              'additionalProperties': False,
                              'required': ['target', 'type'],
                              'properties': {'target': {'$ref': '#/$defs/path',
                                                        'title': 'Target',
                                                        'description': 'Where the mount (or the '
                                                                       'symlink) goes. Must be '
                                                                       'unique in the profile '
                                                                       "after cleaning; '/' itself "
                                                                       'is rejected.',
                                                        'examples': ['/srv/app/data']},
                                             'type': {'title': 'Type',
                                                      'description': 'bind, symlink, overlay, '
                                                                     'tmpfs, or the name of any '
                                                                     'kernel filesystem (ext4, '
                                                                     'xfs, proc, nfs, '
                                                                     'fuse.sshfs...). Words that '
                                                                     'look like types but are not '
                                                                     '(rbind, overlayfs, auto, '
                                                                     'swap, dir...) are rejected '
                                                                     'with a hint.',
                                                      'type': 'string',
                                                      'pattern': '^[a-z0-9][a-z0-9._-]*$',
                                                      'maxLength': 64,
                                                      'not': {'enum': ['rbind',
                                                                       'overlayfs',
                                                                       'auto',
                                                                       'none',
                                                                       'swap',
                                                                       'rootfs',
                                                                       'dir',
                                                                       'directory',
                                                                       'file',
                                                                       'link',
                                                                       'symlinks',
                                                                       'softlink',
                                                                       'remount',
                                                                       'move']},
                                                      'examples': ['bind', 'tmpfs', 'ext4']},
                                             'source': {'title': 'Source',
                                                        'description': 'bind: the absolute path to '
                                                                       'bind (required). symlink: '
                                                                       'the link content, kept '
                                                                       'exactly as written and '
                                                                       'possibly relative '
                                                                       '(required). Other kernel '
                                                                       'filesystems: the device or '
                                                                       'source string (/dev/vdb1, '
                                                                       'server:/export) '
                                                                       '(required). Not allowed '
                                                                       'for tmpfs and overlay.',
                                                        'type': 'string',
                                                        'minLength': 1,
                                                        'maxLength': 4095,
                                                        'examples': ['/data/app']},
                                             'recursive': {'title': 'Recursive bind',
                                                           'description': 'bind only: also bind '
                                                                          'every mount below the '
                                                                          'source (rbind).',
                                                           'type': 'boolean',
                                                           'default': False},
                                             'options': {'title': 'Options',
                                                         'description': 'Per-mount flags (ro, '
                                                                        'nosuid, nodev, noexec, '
                                                                        'noatime, strictatime, '
                                                                        'nodiratime and their '
                                                                        'opposites), a propagation '
                                                                        'word, and filesystem '
                                                                        'options (size=16m, '
                                                                        'mode=0755...). Order does '
                                                                        'not matter except that '
                                                                        'the later of opposites '
                                                                        'wins. Bind mounts take no '
                                                                        'filesystem options. '
                                                                        'Overlay layers go in '
                                                                        'lower/data/upper/work, '
                                                                        'never in options. Not '
                                                                        'allowed for symlinks.',
                                                         'type': 'array',
                                                         'items': {'$ref': '#/$defs/option'},
                                                         'default': [],
                                                         'examples': [['ro', 'nosuid'],
                                                                      ['size=16m', 'mode=0755']]},
                                             'propagation': {'title': 'Propagation',
                                                             'description': 'Mount propagation set '
                                                                            'after mounting (see '
                                                                            'mount_namespaces(7)). '
                                                                            'Absent: left as the '
                                                                            'kernel makes it. May '
                                                                            'also be given as a '
                                                                            'word in options; both '
                                                                            'given and different '
                                                                            'is an error. Not '
                                                                            'allowed for symlinks.',
                                                             'enum': ['private',
                                                                      'shared',
                                                                      'slave',
                                                                      'unbindable']},
                                             'lower': {'title': 'Overlay lower layers',
                                                       'description': 'overlay only (required): '
                                                                      'read-only layers, top-most '
                                                                      "first. Absolute paths; ',' "
                                                                      "and ':' in them are fine "
                                                                      '(layers are passed one by '
                                                                      'one with lowerdir+).',
                                                       'type': 'array',
                                                       'minItems': 1,
                                                       'items': {'$ref': '#/$defs/path'},
                                                       'examples': [['/layers/app',
                                                                     '/layers/base']]},
                                             'data': {'title': 'Overlay data-only layers',
                                                      'description': 'overlay only: data-only '
                                                                     'layers below the lower '
                                                                     'layers (datadir+); they only '
                                                                     'supply file data for '
                                                                     'metacopy files.',
                                                      'type': 'array',
                                                      'items': {'$ref': '#/$defs/path'},
                                                      'default': []},
                                             'upper': {'$ref': '#/$defs/path',
                                                       'title': 'Overlay upper directory',
                                                       'description': 'overlay only: the writable '
                                                                      'layer. upper and work go '
                                                                      'together; without them the '
                                                                      'overlay is read-only.'},
                                             'work': {'$ref': '#/$defs/path',
                                                      'title': 'Overlay work directory',
                                                      'description': 'overlay only: an empty '
                                                                     'directory on the same '
                                                                     'filesystem as upper, not '
                                                                     'inside it (and upper not '
                                                                     'inside it).'},
                                             'mkdir': {'title': 'Create a missing mount point',
                                                       'description': 'Create the target (and '
                                                                      'missing parents) when '
                                                                      'absent, with mode/uid/gid. '
                                                                      'false: a missing target is '
                                                                      'an error.',
                                                       'type': 'boolean',
                                                       'default': True},
                                             'mode': {'title': 'Mode of what livemount creates',
                                                      'description': 'Permission bits of '
                                                                     'directories (or the empty '
                                                                     'file of a file bind) '
                                                                     'livemount creates for this '
                                                                     'entry: an octal string '
                                                                     "('0755', '755', '0o755', "
                                                                     "'01777') or an integer (YAML "
                                                                     '0755 is octal; a bare 755 '
                                                                     'would be decimal, so '
                                                                     'integers 512-777 written '
                                                                     'with only octal digits are '
                                                                     'rejected as ambiguous).',
                                                      'type': ['string', 'integer'],
                                                      'pattern': '^(0o|0)?[0-7]{3,4}$',
                                                      'minimum': 0,
                                                      'maximum': 4095,
                                                      'default': '0755'},
                                             'uid': {'title': 'Owner of what livemount creates',
                                                     'description': 'Numeric user id given to '
                                                                    'directories and files '
                                                                    'livemount creates for this '
                                                                    'entry.',
                                                     'type': 'integer',
                                                     'minimum': 0,
                                                     'maximum': 4294967294,
                                                     'default': 0},
                                             'gid': {'title': 'Group of what livemount creates',
                                                     'description': 'Numeric group id given to '
                                                                    'directories and files '
                                                                    'livemount creates for this '
                                                                    'entry.',
                                                     'type': 'integer',
                                                     'minimum': 0,
                                                     'maximum': 4294967294,
                                                     'default': 0},
                                             'mimic': {'title': 'Writable mimic',
                                                       'description': 'Allow a writable mimic: to '
                                                                      'create a missing mount '
                                                                      'point inside a read-only '
                                                                      'directory, livemount covers '
                                                                      'that directory with a '
                                                                      'writable tmpfs showing its '
                                                                      'old content (copies of its '
                                                                      'files and directories, as '
                                                                      'mounts) and creates the '
                                                                      'mount point there.',
                                                       'type': 'boolean',
                                                       'default': False},
                                             'on_busy': {'title': 'What to do when an unmount is '
                                                                  'busy',
                                                         'description': 'When unmounting this '
                                                                        'entry is refused as busy: '
                                                                        'fail (the default) stops '
                                                                        'and reports the processes '
                                                                        'holding the mount; detach '
                                                                        'unmounts it lazily '
                                                                        '(MNT_DETACH), processes '
                                                                        'keeping their view until '
                                                                        'they let go. Not allowed '
                                                                        'for symlinks.',
                                                         'enum': ['fail', 'detach'],
                                                         'default': 'fail'},
                                             'source_namespace': {'title': 'Namespace of the bind '
                                                                           'source',
                                                                  'description': 'bind only: host '
                                                                                 'takes the source '
                                                                                 'from the mount '
                                                                                 'namespace '
                                                                                 'livemount runs '
                                                                                 "in (the host's) "
                                                                                 'when the profile '
                                                                                 'is applied '
                                                                                 'inside another '
                                                                                 'namespace (a '
                                                                                 "container's), so "
                                                                                 'a host path can '
                                                                                 'be bound into '
                                                                                 'it.',
                                                                  'enum': ['host']},
                                             'upper_policy': {'title': 'Overlay upper on replace',
                                                              'description': 'overlay only, needs '
                                                                             'upper. When a change '
                                                                             'of layers or options '
                                                                             'replaces this '
                                                                             'mounted overlay and '
                                                                             'the new one keeps '
                                                                             'the same upper or '
                                                                             'work: fresh (the '
                                                                             'default) moves the '
                                                                             'old upper and work '
                                                                             'aside (kept, named '
                                                                             'PATH.livemount-TIME) '
                                                                             'and swaps in an '
                                                                             'overlay with new '
                                                                             'empty ones '
                                                                             'atomically, '
                                                                             'processes inside the '
                                                                             'old overlay keeping '
                                                                             'their view; carry '
                                                                             'freezes the old '
                                                                             'overlay read-only, '
                                                                             'waits until nothing '
                                                                             'uses it, unmounts it '
                                                                             'and mounts the new '
                                                                             'one on the same '
                                                                             'upper (refused, '
                                                                             'naming who holds it, '
                                                                             'when it stays in '
                                                                             'use).',
                                                              'enum': ['fresh', 'carry']}},
                              'dependentRequired': {'upper': ['work'],
                                                    'work': ['upper'],
                                                    'upper_policy': ['upper']},
                              'allOf': [{'if': {'properties': {'type': {'const': 'bind'}},
                                                'required': ['type']},
                                         'then': {'$ref': '#/$defs/no_layers',
                                                  'required': ['source'],
                                                  'properties': {'source': {'$ref': '#/$defs/path'}}}},
                                        {'if': {'properties': {'type': {'const': 'symlink'}},
                                                'required': ['type']},
                                         'then': {'$ref': '#/$defs/no_layers',
                                                  'required': ['source'],
                                                  'properties': {'recursive': {'$ref': '#/$defs/forbidden'},
                                                                 'options': {'$ref': '#/$defs/forbidden'},
                                                                 'propagation': {'$ref': '#/$defs/forbidden'},
                                                                 'on_busy': {'$ref': '#/$defs/forbidden'},
                                                                 'source_namespace': {'$ref': '#/$defs/forbidden'}}}},
                                        {'if': {'properties': {'type': {'const': 'overlay'}},
                                                'required': ['type']},
                                         'then': {'required': ['lower'],
                                                  'properties': {'source': {'$ref': '#/$defs/forbidden'},
                                                                 'recursive': {'$ref': '#/$defs/forbidden'},
                                                                 'source_namespace': {'$ref': '#/$defs/forbidden'}}}},
                                        {'if': {'properties': {'type': {'const': 'tmpfs'}},
                                                'required': ['type']},
                                         'then': {'$ref': '#/$defs/no_layers',
                                                  'properties': {'source': {'$ref': '#/$defs/forbidden'},
                                                                 'recursive': {'$ref': '#/$defs/forbidden'},
                                                                 'source_namespace': {'$ref': '#/$defs/forbidden'}}}},
                                        {'if': {'properties': {'type': {'not': {'enum': ['bind',
                                                                                         'symlink',
                                                                                         'overlay',
                                                                                         'tmpfs']}}},
                                                'required': ['type']},
                                         'then': {'$ref': '#/$defs/no_layers',
                                                  'required': ['source'],
                                                  'properties': {'recursive': {'$ref': '#/$defs/forbidden'},
                                                                 'source_namespace': {'$ref': '#/$defs/forbidden'}}}}]}}}
